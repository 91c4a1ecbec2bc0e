import type { Knex } from 'knex';

/**
 * A chat card or ITSM record is posted once per cycle and connector. Instead of holding a
 * transaction (and its lock) open while the chat or ITSM tool answers, the first poster claims
 * the row (ref still null, claimed_at set), posts outside any transaction, then saves the ref.
 */
export async function up(db: Knex): Promise<void> {
  for (const table of ['chat_messages', 'change_records'])
    await db.schema.alterTable(table, (t) => {
      t.jsonb('ref').nullable().alter();
      t.timestamp('claimed_at', { useTz: true });
    });
}

export async function down(db: Knex): Promise<void> {
  for (const table of ['chat_messages', 'change_records']) {
    await db(table).whereNull('ref').delete();
    await db.schema.alterTable(table, (t) => {
      t.dropColumn('claimed_at');
      t.jsonb('ref').notNullable().alter();
    });
  }
}
