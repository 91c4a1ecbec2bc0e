import { readFile } from 'node:fs/promises';
import { InputError } from '../../kernel/errors.ts';
import type { FeedRunResult, FeedScheduleStatus } from '../../app/feeds.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr, requirePositional } from './args.ts';
import type { CliCommand } from './types.ts';

function describeSchedule(s: FeedScheduleStatus | null): string {
  if (!s) return 'not scheduled';
  if (s.paused) return `every ${s.every}, paused`;
  return `every ${s.every}, next ${s.nextRunAt ?? 'not planned'}`;
}

function describeRun(r: FeedRunResult | { feed: string; error: string }): string {
  if ('error' in r) return `${r.feed}: FAILED: ${r.error}`;
  if (r.notModified) return `${r.feed}: not modified since the last sync`;
  const a = r.advisories;
  return `${r.feed}: ${r.cves.inserted + r.cves.updated} CVEs (${r.cves.inserted} new, ${r.cves.updated} updated), ${a.advisories} advisories, ${a.patches} patches, ${a.patchCves} new patch-CVE links${r.kevRemoved ? `, ${r.kevRemoved} CVE(s) no longer in KEV` : ''}`;
}

export const feedCommands: CliCommand[] = [
  {
    path: ['feeds', 'list'],
    summary: 'advisory feeds, when each last synced and when its schedule syncs it next',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const { feeds } = await apiRequest<{
        feeds: {
          kind: string;
          title: string;
          configured: boolean;
          state: { syncedAt?: string; cursor?: string };
          schedule: FeedScheduleStatus | null;
        }[];
      }>('GET', '/api/feeds');
      printJsonOr(values, feeds, () =>
        feeds
          .map(
            (f) =>
              `${f.kind.padEnd(6)} ${(f.state.syncedAt ?? 'never synced').padEnd(26)} ${describeSchedule(f.schedule).padEnd(44)} ${f.title}`,
          )
          .join('\n'),
      );
      return 0;
    },
  },
  {
    path: ['feeds', 'sync'],
    summary: 'fetch what changed in one advisory feed, or in all of them (run by a worker; waits for the result)',
    usage: '[<kind>] [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const kind = positionals[0];
      const results = kind
        ? [await apiRequest<FeedRunResult>('POST', `/api/feeds/${encodeURIComponent(kind)}/sync`)]
        : (
            await apiRequest<{ results: (FeedRunResult | { feed: string; error: string })[] }>(
              'POST',
              '/api/feeds/sync',
            )
          ).results;
      printJsonOr(values, kind ? results[0] : results, () => results.map(describeRun).join('\n'));
      return results.some((r) => 'error' in r) ? 1 : 0;
    },
  },
  {
    path: ['feeds', 'import'],
    summary: 'import a downloaded feed file (KEV JSON, EPSS CSV, NVD/CVE JSON, MSRC CVRF XML, CSAF JSON)',
    usage: '<kind> <file> [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const kind = requirePositional(positionals, 0, 'kind');
      const file = requirePositional(positionals, 1, 'file');
      const body = await readFile(file).catch((err: Error) => {
        throw new InputError(`cannot read ${file}: ${err.message}`, [{ path: ['<file>'], message: 'unreadable' }]);
      });
      const result = await apiRequest<FeedRunResult>(
        'POST',
        `/api/feeds/${encodeURIComponent(kind)}/import`,
        undefined,
        {
          rawBody: body,
          headers: { 'content-type': 'application/octet-stream' },
        },
      );
      printJsonOr(values, result, () => describeRun(result));
      return 0;
    },
  },
];
