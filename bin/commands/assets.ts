import path from 'node:path';
import { assetFileFormatSchema, type AssetImportResult } from '../../app/asset-import.ts';
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
    summary: 'one asset, by hostname or id',
    usage: '<hostname|id> [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const ref = requirePositional(positionals, 0, 'hostname|id');
      const asset = await apiRequest<Asset>('GET', `/api/assets/${encodeURIComponent(ref)}`);
      printJsonOr(values, asset, () => JSON.stringify(asset, null, 2));
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
