import type { ScanImportSummary } from '../../app/scan-import.ts';
import { scanFormatOptionSchema } from '../../integrations/kit/scanners/report.ts';
import { parseInput } from '../../kernel/validate.ts';
import { printJsonOr, requirePositional } from './args.ts';
import type { CliCommand } from './types.ts';
import { uploadFile } from './upload.ts';

export const scanCommands: CliCommand[] = [
  {
    path: ['scan', 'import'],
    summary:
      'import a Nessus (.nessus) or OpenVAS/Greenbone XML report; findings are matched to assets by hostname, FQDN or IP',
    usage: '<file> [--format auto|nessus|openvas] [--json]',
    options: { format: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const file = requirePositional(positionals, 0, 'file');
      const format = parseInput(scanFormatOptionSchema, values['format'] ?? 'auto', '--format');
      const s = await uploadFile<ScanImportSummary>(`/api/scans/import?format=${format}`, file, 'application/xml');
      printJsonOr(values, s, () => {
        const severities = Object.entries(s.bySeverity)
          .map(([name, n]) => `${name} ${n}`)
          .join(', ');
        const unmatched = s.unmatchedHosts.length
          ? `\nnot in the inventory (findings not stored): ${s.unmatchedHosts.join(', ')}`
          : '';
        const closed = s.closed
          ? `\n${s.closed} finding(s) this scan no longer reports on its hosts closed as fixed`
          : '';
        return `${s.hosts} host(s), ${s.findings} finding(s) (${severities}), ${s.cves} CVE(s)${unmatched}${closed}`;
      });
      return 0;
    },
  },
];
