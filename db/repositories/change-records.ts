import type { Knex } from 'knex';
import { z } from 'zod';
import type { ChangeRecordRef } from '../../integrations/contract/index.ts';

export interface ChangeRecordRow {
  connector: string;
  ref: ChangeRecordRef;
  /** Keys of the evidence already posted to the record. */
  evidence: string[];
}

const rowSchema = z.object({
  connector: z.string(),
  ref: z.record(z.string(), z.string()),
  evidence: z.array(z.string()),
});

/** The cycle's change records in ITSM tools, one per connector. */
export async function changeRecords(db: Knex, cycleId: string): Promise<ChangeRecordRow[]> {
  const rows: unknown[] = await db('change_records')
    .where({ cycle_id: cycleId })
    .whereNotNull('ref')
    .select('connector', 'ref', 'evidence');
  return rows.map((r) => rowSchema.parse(r));
}

export async function saveChangeRecord(
  db: Knex,
  cycleId: string,
  connector: string,
  ref: ChangeRecordRef,
): Promise<void> {
  await db('change_records')
    .insert({ cycle_id: cycleId, connector, ref })
    .onConflict(['cycle_id', 'connector'])
    .merge(['ref']);
}

export async function markEvidencePosted(db: Knex, cycleId: string, connector: string, key: string): Promise<void> {
  await db('change_records')
    .where({ cycle_id: cycleId, connector })
    .update({ evidence: db.raw('array_append(evidence, ?)', [key]), updated_at: db.fn.now() });
}
