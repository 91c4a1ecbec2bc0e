import type { Knex } from 'knex';

/**
 * Where each cycle's change lives in an ITSM tool (ServiceNow, Jira Service Management), so that
 * every refresh updates the same record, and which evidence notes it already carries, so that a
 * refresh posts each of them once.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('change_records', (t) => {
    t.text('cycle_id').notNullable().references('cycles.id').onDelete('CASCADE');
    t.text('connector').notNullable();
    // Connector-specific address of the record (ServiceNow sys_id and number, Jira issue key).
    t.jsonb('ref').notNullable();
    // Keys of the evidence already posted as notes (decision:alice, deployment:pilot, verification …).
    t.specificType('evidence', 'text[]').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.primary(['cycle_id', 'connector']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('change_records');
}
