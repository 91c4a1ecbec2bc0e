import type { Knex } from 'knex';

/**
 * What change approval adds: approver groups on users (CAB, emergency, escalation), the change
 * request as the approvers saw it, and where each cycle's card was posted in chat so that it can
 * be updated in place.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('users', (t) => {
    t.specificType('groups', 'text[]').notNullable().defaultTo('{}');
  });

  await db.schema.createTable('change_requests', (t) => {
    t.text('cycle_id').primary().references('cycles.id').onDelete('CASCADE');
    t.boolean('emergency').notNullable();
    // The ChangeRequest and the approver pools exactly as the approval workflow received them.
    t.jsonb('request').notNullable();
    t.jsonb('pools').notNullable();
    // The gate's latest state (decisions, escalation, not-before), written with every chat refresh.
    t.jsonb('state');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });

  await db.schema.createTable('chat_messages', (t) => {
    t.text('cycle_id').notNullable().references('cycles.id').onDelete('CASCADE');
    t.text('connector').notNullable();
    // Connector-specific address of the posted card (Slack channel + ts, Teams conversation + activity id).
    t.jsonb('ref').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.primary(['cycle_id', 'connector']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('chat_messages');
  await db.schema.dropTableIfExists('change_requests');
  await db.schema.alterTable('users', (t) => {
    t.dropColumn('groups');
  });
}
