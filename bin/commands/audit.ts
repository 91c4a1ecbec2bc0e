import type { AuditCheckpoint, AuditRow, ChainVerification } from '../../db/repositories/audit.ts';
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
    summary:
      'check the audit trail: its hash chain (an event edited or removed) and its checkpoints (the newest events cut off)',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const v = await apiRequest<ChainVerification>('GET', '/api/audit/verify');
      printJsonOr(values, v, () => describeVerification(v));
      return v.ok ? 0 : 1;
    },
  },
];

/**
 * One line per finding: the first broken row (an edit, or a removal from the middle), then the
 * newest checkpoint the chain no longer reaches (its tail cut or the table truncated), then how far
 * the trail is still vouched for. A cut of both audit_events and audit_checkpoints alike, by someone
 * who can disable both tables' triggers, is not visible here.
 */
function describeVerification(v: ChainVerification): string {
  const checkpoint = (c: AuditCheckpoint) =>
    `checkpoint ${c.seq} of ${new Date(c.at).toISOString()} (${c.reason}: event ${c.head_seq}, hash ${c.head_hash.slice(0, 12)}…, ${c.events} events)`;
  const reached = v.reached ? `last checkpoint reached: ${checkpoint(v.reached)}` : 'no checkpoint reached';
  if (v.ok) return `audit trail intact: ${v.events} events; ${reached}`;
  return [
    ...(v.brokenAt !== undefined ? [`AUDIT TRAIL BROKEN at event ${v.brokenAt}: ${v.reason}`] : []),
    ...(v.unreachable
      ? [
          `AUDIT TRAIL INCOMPLETE: ${checkpoint(v.unreachable.checkpoint)} is no longer reached: ${v.unreachable.reason}` +
            (v.unreachable.checkpoints > 1 ? ` (${v.unreachable.checkpoints} checkpoints unreached in all)` : ''),
        ]
      : []),
    `${v.events} events present; ${reached}`,
  ].join('\n');
}
