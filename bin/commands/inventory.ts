import type { InventoryConnectorStatus, InventorySyncReport } from '../../app/inventory-sync.ts';
import type { ScheduleStatus } from '../../app/schedules.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr } from './args.ts';
import type { CliCommand } from './types.ts';

type SyncResult = InventorySyncReport | { connector: string; error: string };

function describeSchedule(s: ScheduleStatus | null): string {
  if (!s) return 'not scheduled';
  if (s.paused) return `every ${s.every}, paused`;
  return `every ${s.every}, next ${s.nextRunAt ?? 'not planned'}`;
}

function describeSync(r: SyncResult): string {
  if ('error' in r) return `${r.connector}: FAILED: ${r.error}`;
  const lines = [
    `${r.connector}: ${r.listed} listed, ${r.new.length} new, ${r.changed.length} changed, ${r.unchanged} unchanged, ${r.vanished.length} vanished, ${r.rejected.length} rejected`,
    ...r.new.map((h) => `  new       ${h}`),
    ...r.changed.map((c) => `  changed   ${c.hostname} (${c.fields.join(', ')})`),
    ...r.vanished.map((h) => `  vanished  ${h}`),
    ...r.rejected.map((x) => `  rejected  ${x.hostname}: ${x.field}: ${x.message}`),
  ];
  return lines.join('\n');
}

export const inventoryCommands: CliCommand[] = [
  {
    path: ['inventory', 'list'],
    summary: 'inventory connectors, when each last synced and when its schedule syncs it next',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const { connectors } = await apiRequest<{ connectors: InventoryConnectorStatus[] }>('GET', '/api/inventory');
      printJsonOr(values, connectors, () =>
        connectors
          .map(
            (c) =>
              `${c.connector.padEnd(8)} ${(c.lastSync?.at ?? 'never synced').padEnd(26)} ${describeSchedule(c.schedule)}`,
          )
          .join('\n'),
      );
      return 0;
    },
  },
  {
    path: ['inventory', 'sync'],
    summary:
      'list the hosts of one inventory connector, or of all, and store them; reports new, changed and vanished hosts (run by a worker; waits)',
    usage: '[<connector>] [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const connector = positionals[0];
      const results = connector
        ? [await apiRequest<InventorySyncReport>('POST', '/api/inventory/sync', { connector })]
        : (await apiRequest<{ results: SyncResult[] }>('POST', '/api/inventory/sync', {})).results;
      printJsonOr(values, connector ? results[0] : results, () => results.map(describeSync).join('\n'));
      return results.some((r) => 'error' in r) ? 1 : 0;
    },
  },
];
