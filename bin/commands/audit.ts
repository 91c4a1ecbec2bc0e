import type { AuditRow, ChainVerification } from '../../db/repositories/audit.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr } from './args.ts';
import type { CliCommand } from './types.ts';

export const auditCommands: CliCommand[] = [
  {
    path: ['audit', 'list'],
    summary: 'the audit trail, optionally for one subject (e.g. a cycle id)',
    usage: '[--subject <id>] [--json]',
    options: { subject: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values }) {
      const q = typeof values['subject'] === 'string' ? `?subject=${encodeURIComponent(values['subject'])}` : '';
      const { events } = await apiRequest<{ events: AuditRow[] }>('GET', `/api/audit${q}`);
      printJsonOr(values, events, () =>
        events
          .map(
            (e) =>
              `${String(e.seq).padStart(6)} ${new Date(e.at).toISOString()} ${e.actor.padEnd(12)} ${e.action.padEnd(22)} ${e.subject_id}`,
          )
          .join('\n'),
      );
      return 0;
    },
  },
  {
    path: ['audit', 'verify'],
    summary: 'check the hash chain of the audit trail (tamper evidence)',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const v = await apiRequest<ChainVerification>('GET', '/api/audit/verify');
      printJsonOr(values, v, () =>
        v.ok ? `audit trail intact: ${v.events} events` : `AUDIT TRAIL BROKEN at event ${v.brokenAt}: ${v.reason}`,
      );
      return v.ok ? 0 : 1;
    },
  },
];
