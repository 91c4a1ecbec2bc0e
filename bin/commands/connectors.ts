import { connectionTestSchema, connectorCatalogSchema, connectorListSchema } from '../../server/routes/connectors.ts';
import { apiRequest } from '../api.ts';
import { parseInput } from '../../kernel/validate.ts';
import { printJsonOr, requirePositional } from './args.ts';
import type { CliCommand } from './types.ts';

export const connectorCommands: CliCommand[] = [
  {
    path: ['connectors', 'list'],
    summary: 'the configured connectors, their capabilities and config (secrets redacted)',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const { connectors } = parseInput(
        connectorListSchema,
        await apiRequest('GET', '/api/connectors'),
        'server answer',
      );
      printJsonOr(values, connectors, () =>
        connectors.length
          ? connectors.map((c) => `${c.id.padEnd(12)} ${c.title.padEnd(48)} ${c.capabilities.join(', ')}`).join('\n')
          : 'no connectors are configured',
      );
      return 0;
    },
  },
  {
    path: ['connectors', 'test'],
    summary: 'check that a connector reaches its system with its credentials',
    usage: '<id> [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'id');
      const result = parseInput(
        connectionTestSchema,
        await apiRequest('POST', `/api/connectors/${encodeURIComponent(id)}/test`),
        'server answer',
      );
      printJsonOr(values, result, () => `${result.id}: ${result.ok ? 'ok' : 'FAILED'} — ${result.message}`);
      return result.ok ? 0 : 1;
    },
  },
  {
    path: ['connectors', 'available'],
    summary: 'every connector Patchflow ships: its roles, the settings it requires and its environment variables',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const { connectors } = parseInput(
        connectorCatalogSchema,
        await apiRequest('GET', '/api/connectors/available'),
        'server answer',
      );
      printJsonOr(values, connectors, () =>
        table(
          // The required settings, the longest cells, go last so that the other columns stay narrow.
          ['id', 'roles', 'env prefix', 'required settings'],
          connectors.map((c) => [
            c.id,
            c.capabilities.join(', '),
            c.env ? `${c.env.prefix}_` : '—',
            c.configSchema.required?.join(', ') || '—',
          ]),
        ),
      );
      return 0;
    },
  },
];

/** Rows under a header, each column as wide as its widest cell; the last column is not padded. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
