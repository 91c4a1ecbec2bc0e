import path from 'node:path';
import { assetFileFormatSchema, type AssetImportResult } from '../../app/asset-import.ts';
import type { AssetDetail, AssetHistory, HistoryEntry } from '../../app/asset-records.ts';
import type { Asset } from '../../db/repositories/assets.ts';
import { parseInput } from '../../kernel/validate.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr, requirePositional } from './args.ts';
import type { CliCommand } from './types.ts';
import { uploadFile } from './upload.ts';

export function assetTable(assets: Asset[]): string {
  if (assets.length === 0) return '(no assets)';
  return assets
    .map(
      (a) =>
        `${a.hostname.padEnd(28)} tier ${a.criticality} ${a.exposure.padEnd(9)} ${(a.platform ?? '-').padEnd(10)} ${(a.patchGroup ?? '-').padEnd(12)} ${a.tags.join(',')}`,
    )
    .join('\n');
}

const minute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')}Z`;
const inCycle = (r: { patchId: string; cycleId: string }) => `${r.patchId} in ${r.cycleId}`;

/** One asset's compliance as a person reads it. */
function complianceSummary(a: AssetDetail): string {
  const c = a.compliance;
  const product =
    c.product.status === 'mapped'
      ? `product ${c.product.key}`
      : `product unmapped (OS ${c.product.osName ? `"${c.product.osName}"` : 'not known'})`;
  const severities = (['critical', 'high', 'medium', 'low', 'info'] as const)
    .filter((s) => c.openFindings[s] > 0)
    .map((s) => `${c.openFindings[s]} ${s}`);
  const reboot = c.rebootPendingSince
    ? `yes, since ${minute(c.rebootPendingSince.at)} (${inCycle(c.rebootPendingSince)}: ${c.rebootPendingSince.message})`
    : 'no';
  return [
    `${a.hostname} (${a.id}): tier ${a.criticality}, ${a.exposure}, ${a.platform ?? 'no platform'}; ${product}`,
    `  open findings   ${c.openFindings.total}${severities.length ? ` (${severities.join(', ')})` : ''}; overdue ${c.overdue}; earliest due ${c.earliestDueAt?.slice(0, 10) ?? 'none'}`,
    `  last patched    ${c.lastPatched ? `${minute(c.lastPatched.at)} ${inCycle(c.lastPatched)}` : 'never'}`,
    `  last verified   ${c.lastVerified ? `${minute(c.lastVerified.at)} ${c.lastVerified.result}, ${c.lastVerified.label} (${inCycle(c.lastVerified)})` : 'never'}`,
    `  reboot pending  ${reboot}`,
    `  last seen       ${c.lastSeen ? minute(c.lastSeen) : 'never'}`,
  ].join('\n');
}

function historyLines(e: HistoryEntry): string[] {
  const attempts = `${e.attempts} attempt${e.attempts === 1 ? '' : 's'}`;
  const verified = e.verification
    ? `verified ${e.verification.result} (${e.verification.label}) ${minute(e.verification.at)}`
    : 'not verified';
  const notes = [
    e.installedAt ? `installed ${minute(e.installedAt)}` : undefined,
    e.backupReference ? `backup ${e.backupReference}` : undefined,
    e.rebootPending ? 'reboot pending' : undefined,
    e.rollback ? `rollback ${e.rollback.succeeded ? 'done' : 'failed'} ${minute(e.rollback.at)}` : undefined,
  ].filter((n) => n !== undefined);
  return [
    `  ${minute(e.at)}  ${e.patch.id} "${e.patch.title}"  cycle ${e.cycle.id} "${e.cycle.name}" (${e.cycle.status}), ring ${e.ring}`,
    `      ${e.outcome} after ${attempts}; ${verified}${notes.length ? `; ${notes.join('; ')}` : ''}`,
    ...(e.message ? [`      ${e.message}`] : []),
  ];
}

/** One page of an asset's history as a person reads it. */
function historySummary(h: AssetHistory): string {
  if (h.total === 0) return 'history: no patch cycle has targeted this asset';
  const shown = h.entries.length ? `${h.offset + 1}–${h.offset + h.entries.length}` : 'none';
  return [`history, newest first (${shown} of ${h.total}):`, ...h.entries.flatMap(historyLines)].join('\n');
}

export const assetCommands: CliCommand[] = [
  {
    path: ['assets', 'list'],
    summary: 'list assets, optionally those matching a query (e.g. "tier<=2 and exposure=internet") or a saved group',
    usage: '[--query "<expr>"] [--group <name>] [--limit <n>] [--json]',
    options: {
      query: { type: 'string' },
      group: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run({ values }) {
      const params = new URLSearchParams();
      for (const name of ['query', 'group', 'limit']) {
        const v = values[name];
        if (typeof v === 'string') params.set(name, v);
      }
      const { assets, total } = await apiRequest<{ assets: Asset[]; total: number }>('GET', `/api/assets?${params}`);
      printJsonOr(values, assets, () => `${assetTable(assets)}\n${assets.length} of ${total} asset(s)`);
      return 0;
    },
  },
  {
    path: ['assets', 'show'],
    summary: 'one asset, by hostname or id: its compliance and its patch history, newest first',
    usage: '<hostname|id> [--limit <n>] [--offset <n>] [--json]',
    options: { limit: { type: 'string' }, offset: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const ref = encodeURIComponent(requirePositional(positionals, 0, 'hostname|id'));
      const params = new URLSearchParams();
      for (const name of ['limit', 'offset']) {
        const v = values[name];
        if (typeof v === 'string') params.set(name, v);
      }
      const [asset, history] = await Promise.all([
        apiRequest<AssetDetail>('GET', `/api/assets/${ref}`),
        apiRequest<AssetHistory>('GET', `/api/assets/${ref}/history?${params}`),
      ]);
      // The asset's own fields stay at the top level, as before the history was added.
      printJsonOr(values, { ...asset, history }, () => `${complianceSummary(asset)}\n${historySummary(history)}`);
      return 0;
    },
  },
  {
    path: ['assets', 'import'],
    summary: 'import assets from a CSV or JSON file; any bad row rejects the whole file',
    usage: '<file> [--format csv|json] [--json]',
    options: { format: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const file = requirePositional(positionals, 0, 'file');
      const extension = path.extname(file).slice(1).toLowerCase();
      const format = parseInput(
        assetFileFormatSchema,
        values['format'] ?? (extension === 'json' ? 'json' : 'csv'),
        '--format',
      );
      const result = await uploadFile<AssetImportResult>(
        `/api/assets/import?format=${format}`,
        file,
        format === 'json' ? 'application/octet-stream' : 'text/csv',
      );
      printJsonOr(
        values,
        result,
        () => `imported ${result.imported} asset(s): ${result.created} new, ${result.updated} updated`,
      );
      return 0;
    },
  },
];
