import type { Knex } from 'knex';

/** When and on what evidence a finding was closed: a later scan of its host no longer reported it. */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('findings', (t) => {
    t.timestamp('fixed_at', { useTz: true });
    t.text('fixed_by');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('findings', (t) => {
    t.dropColumn('fixed_at');
    t.dropColumn('fixed_by');
  });
}
