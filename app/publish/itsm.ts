import { changeRecords, markEvidencePosted, saveChangeRecord } from '../../db/repositories/change-records.ts';
import type { ChangeRecordRef } from '../../integrations/contract/index.ts';
import { buildChangeRecordView } from '../../integrations/kit/itsm/change-record.ts';
import { withLockedChangeView, type PublishDeps } from './chat.ts';

/**
 * Brings the cycle's change record up to date in every configured ITSM tool: opened the first
 * time a change request exists, then its fields and stage refreshed, and each new piece of
 * evidence posted once as an internal note (before the stage moves, so a closed record already
 * holds it). A cycle's refreshes are serialised by an advisory lock, so a retried activity never
 * opens a second record. An ITSM tool that fails is logged and skipped: the change goes on, and
 * the next event refreshes the record again.
 */
export async function mirrorChangeRecords(deps: PublishDeps, cycleId: string): Promise<void> {
  const systems = deps.registry.allInRole('changeRecord');
  if (systems.length === 0) return;
  await withLockedChangeView(deps.db, 'change-record', cycleId, async ({ trx, source, change, card }) => {
    const { content, evidence } = buildChangeRecordView(source, change, card);
    const records = new Map((await changeRecords(trx, cycleId)).map((r) => [r.connector, r]));
    for (const { id, impl } of systems) {
      try {
        let ref: ChangeRecordRef | undefined = records.get(id)?.ref;
        if (!ref) {
          ref = await impl.open(content);
          await saveChangeRecord(trx, cycleId, id, ref);
        }
        const posted = new Set(records.get(id)?.evidence);
        for (const item of evidence.filter((e) => !posted.has(e.key))) {
          await impl.addEvidence(ref, item);
          await markEvidencePosted(trx, cycleId, id, item.key);
        }
        await impl.update(ref, content);
      } catch (err) {
        deps.logger.warn('change record not updated', { connector: id, cycleId, err: (err as Error).message });
      }
    }
  });
}
