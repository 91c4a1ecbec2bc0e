import type { FeedSyncState } from '../../contract/index.ts';
import { InputError } from '../../../kernel/errors.ts';
import type { Logger } from '../../../kernel/logger.ts';
import { syncDocumentIndex, type DocumentEntry, type FeedSyncResult } from '../feed.ts';
import { feedText, utcTimestamp } from '../parse.ts';
import type { CsafConfig } from './config.ts';
import { parseCsaf } from './parse.ts';

/** changes.csv: `"path","timestamp"` per line, paths relative to the directory (CSAF 2.0 §7.1.17). */
export function parseChangesCsv(body: Buffer, baseUrl: string): DocumentEntry[] {
  const entries: DocumentEntry[] = [];
  feedText(body, 'CSAF changes.csv')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (!line.trim()) return;
      const m = /^"?([^",]+)"?\s*,\s*"?([^",]+)"?$/.exec(line.trim());
      const changedAt = utcTimestamp(m?.[2]);
      if (!m?.[1] || !changedAt)
        throw new InputError(`CSAF changes.csv line ${i + 1} is not "path","timestamp"`, [
          { path: ['line', i + 1], message: 'expected "path","timestamp"' },
        ]);
      entries.push({ url: new URL(m[1], baseUrl).toString(), changedAt });
    });
  return entries;
}

const directory = (config: CsafConfig) => (config.url.endsWith('/') ? config.url : `${config.url}/`);
export const changesUrl = (config: CsafConfig) => new URL('changes.csv', directory(config)).toString();

export function syncCsaf(
  config: CsafConfig,
  state: FeedSyncState,
  logger: Logger,
  signal?: AbortSignal,
): Promise<FeedSyncResult> {
  const base = directory(config);
  return syncDocumentIndex(
    changesUrl(config),
    state,
    { retry: config.retry, logger, signal, maxDocuments: config.maxDocuments },
    (body) => parseChangesCsv(body, base),
    (body) => parseCsaf(body),
  );
}
