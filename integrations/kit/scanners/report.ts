import { z } from 'zod';
import { InputError } from '../../../kernel/errors.ts';
import { nessusReportHandler, nessusRootElement } from '../../nessus/report.ts';
import { openvasReportHandler, openvasRootElements } from '../../openvas/report.ts';
import type { ScanFormat, ScanReportSink } from './types.ts';
import { XmlReportReader, type XmlElementHandler, type XmlPosition } from './xml.ts';

export const scanFormatOptionSchema = z.enum(['auto', 'nessus', 'openvas']);
export type ScanFormatOption = z.infer<typeof scanFormatOptionSchema>;

function formatOfRoot(root: string): ScanFormat | undefined {
  if (root === nessusRootElement) return 'nessus';
  return openvasRootElements.includes(root) ? 'openvas' : undefined;
}

export interface ReadScanReportOptions {
  format: ScanFormatOption;
  sink: ScanReportSink;
  /**
   * Awaited after each chunk is parsed, before the next is read: the consumer writes what the
   * chunk produced, and the stream waits meanwhile, which is what keeps memory flat.
   */
  afterChunk?: (format: ScanFormat | undefined) => Promise<void>;
}

/**
 * Streams a Nessus v2 or OpenVAS report into `sink`, element by element; the format comes from
 * the root element unless one is demanded. Anything that is not such a report — JSON, an HTML
 * error page, truncated or hostile XML — is an InputError saying what and where.
 */
export async function readScanReport(
  body: AsyncIterable<Uint8Array>,
  options: ReadScanReportOptions,
): Promise<ScanFormat> {
  const detected: { format?: ScanFormat | undefined } = {};
  const reader = new XmlReportReader((root: string, position: XmlPosition): XmlElementHandler => {
    const format = formatOfRoot(root);
    detected.format = format;
    if (!format)
      throw position.fail(
        `not a Nessus v2 or OpenVAS report: the root element is <${root}>, expected <${nessusRootElement}> or <report>`,
      );
    if (options.format !== 'auto' && options.format !== format)
      throw position.fail(`the report is ${format}, not ${options.format} as requested`);
    return format === 'nessus'
      ? nessusReportHandler(options.sink, position)
      : openvasReportHandler(options.sink, position);
  });
  for await (const chunk of body) {
    reader.write(chunk);
    await options.afterChunk?.(detected.format);
  }
  reader.end();
  if (!detected.format)
    throw new InputError('the scan report is empty', [{ path: [], message: 'no XML root element' }]);
  return detected.format;
}
