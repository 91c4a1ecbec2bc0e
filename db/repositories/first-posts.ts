import type { Knex } from 'knex';

/** The tables that remember where a cycle's post lives in each connector: chat cards, ITSM records. */
export type PostTable = 'chat_messages' | 'change_records';

/** How long a claim stands for a poster that died between claiming and saving the post's ref. */
const CLAIM_LAPSES_AFTER = '2 minutes';

/**
 * Claims the right to make the cycle's first post to `connector`: true for exactly one caller,
 * across processes, until the post's ref is saved or the claim lapses. The caller posts outside
 * any transaction, then saves the ref (or releases the claim if posting failed).
 */
export async function claimFirstPost(db: Knex, table: PostTable, cycleId: string, connector: string): Promise<boolean> {
  const result = await db.raw<{ rows: unknown[] }>(
    `insert into ?? (cycle_id, connector, ref, claimed_at) values (?, ?, null, now())
     on conflict (cycle_id, connector) do update set claimed_at = now()
     where ??.ref is null and ??.claimed_at < now() - interval '${CLAIM_LAPSES_AFTER}'
     returning cycle_id`,
    [table, cycleId, connector, table, table],
  );
  return result.rows.length > 0;
}

/** Gives up a claim whose post failed, so that the next refresh tries again at once. */
export async function releaseFirstPostClaim(
  db: Knex,
  table: PostTable,
  cycleId: string,
  connector: string,
): Promise<void> {
  await db(table).where({ cycle_id: cycleId, connector }).whereNull('ref').delete();
}
