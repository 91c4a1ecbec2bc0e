import type { Knex } from 'knex';

/** Row counts of every table a feed writes; equal before and after means a failed import changed nothing. */
export async function feedTableCounts(db: Knex): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['cves', 'advisories', 'advisory_cves', 'patches', 'patch_cves', 'feed_state']) {
    const row = (await db(table).count({ n: '*' }).first()) as { n: number };
    counts[table] = Number(row.n);
  }
  return counts;
}
