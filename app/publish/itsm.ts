import { changeRecords, markEvidencePosted, saveChangeRecord } from '../../db/repositories/change-records.ts';
import type { ChangeRecordRef } from '../../integrations/contract/index.ts';
import { buildChangeRecordView } from '../../integrations/kit/itsm/change-record.ts';
import { postOnce, withChangeView, type PublishDeps } from './chat.ts';

/**
 * Brings the cycle's change record up to date in every configured ITSM tool: opened once, the
 * first time a change request exists (claimed in the database, so two processes never open two),
 * then its fields and stage refreshed, and each new piece of evidence posted as an internal note
 * before the stage moves, so a closed record already holds it. Evidence is marked posted after
 * the tool accepts it: a process that dies in between posts that note again rather than never.
 * An ITSM tool that fails is logged and skipped: the change goes on, and the next event
 * refreshes the record again.
 */
export async function mirrorChangeRecords(deps: PublishDeps, cycleId: string): Promise<void> {
  const systems = deps.registry.allInRole('changeRecord');
  if (systems.length === 0) return;
  const { db } = deps;
  await withChangeView(db, 'change-record', cycleId, async ({ source, change, card }) => {
    const { content, evidence } = buildChangeRecordView(source, change, card);
    const records = new Map((await changeRecords(db, cycleId)).map((r) => [r.connector, r]));
    for (const { id, impl } of systems) {
      try {
        const ref: ChangeRecordRef | undefined =
          records.get(id)?.ref ??
          (await postOnce(
            db,
            'change_records',
            cycleId,
            id,
            () => impl.open(content),
            (opened) => saveChangeRecord(db, cycleId, id, opened),
          ));
        if (!ref) continue;
        const posted = new Set(records.get(id)?.evidence);
        for (const item of evidence.filter((e) => !posted.has(e.key))) {
          await impl.addEvidence(ref, item);
          await markEvidencePosted(db, cycleId, id, item.key);
        }
        await impl.update(ref, content);
      } catch (err) {
        deps.logger.warn('change record not updated', { connector: id, cycleId, err: (err as Error).message });
      }
    }
  });
}
