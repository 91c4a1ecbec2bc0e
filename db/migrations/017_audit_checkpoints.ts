import type { Knex } from 'knex';

/**
 * Checkpoints of the audit chain's head. The chain alone shows an edited or removed event, but not
 * a cut tail: delete the newest events (or TRUNCATE, for whoever can disable the trigger) and what
 * is left still links up. A checkpoint names the head (its event, hash and how many events lead to
 * it) in a table of its own that the database, like audit_events, refuses to rewrite, so `audit
 * verify` can tell that events it once named are gone.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('audit_checkpoints', (t) => {
    t.bigIncrements('seq');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    /** Why it was written: a cycle's end, or the interval of appends. */
    t.text('reason').notNullable();
    t.bigInteger('head_seq').notNullable();
    t.text('head_hash').notNullable();
    /** Events in the chain up to and including the head. */
    t.bigInteger('events').notNullable();
  });
  await db.raw(`create function audit_checkpoints_append_only() returns trigger language plpgsql as $$
    begin raise exception '% is append-only (% refused)', tg_table_name, tg_op; end $$`);
  await db.raw(`create trigger audit_checkpoints_no_update before update or delete on audit_checkpoints
                for each row execute function audit_checkpoints_append_only()`);
  await db.raw(`create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
                for each statement execute function audit_checkpoints_append_only()`);
  // A trail that already exists is checkpointed as it stands, so a tail cut after the upgrade is seen too.
  await db.raw(`insert into audit_checkpoints (reason, head_seq, head_hash, events)
                select 'migration', seq, hash, (select count(*) from audit_events)
                from audit_events order by seq desc limit 1`);
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('audit_checkpoints');
  await db.raw('drop function if exists audit_checkpoints_append_only() cascade');
}
