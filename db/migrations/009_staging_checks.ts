import type { Knex } from 'knex';

/** What each staging check saw on each staging host: shown to the CAB and kept as evidence. */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('staging_checks', (t) => {
    t.bigIncrements('id');
    t.text('cycle_id').notNullable().references('cycles.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('kind').notNullable();
    t.text('hostname').notNullable();
    t.boolean('passed').notNullable();
    t.text('detail').notNullable();
    t.timestamp('checked_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.unique(['cycle_id', 'name', 'hostname']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('staging_checks');
}
