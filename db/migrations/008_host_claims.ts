import type { Knex } from 'knex';

/**
 * A cycle holds its hosts from the moment it starts deploying until it is done: another cycle
 * that targets one of the same host × patch pairs waits (queued) instead of racing its installs.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('cycles', (t) => {
    t.timestamp('holds_hosts_since', { useTz: true });
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('cycles', (t) => {
    t.dropColumn('holds_hosts_since');
  });
}
