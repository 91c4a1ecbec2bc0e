import type { Knex } from 'knex';

/**
 * A running deployment attempt says it is alive: a retry does not touch a host whose earlier
 * attempt is still heard from (a zombie whose activity Temporal already timed out may still be
 * installing), and takes over only once that attempt falls silent.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('deployments', (t) => {
    t.timestamp('heartbeat_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('deployments', (t) => {
    t.dropColumn('heartbeat_at');
  });
}
