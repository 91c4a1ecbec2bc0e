import type { Knex } from 'knex';

/**
 * How each target was verified: by a re-scan (`scan`: remediated, still vulnerable, not scanned)
 * or by asking the deployer (`deployer`, labelled "deployer-reported"), with the evidence kept
 * (scan reference and start, findings closed or still open). One row per cycle × asset × patch:
 * a retried verification replaces its rows.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('verifications', (t) => {
    t.text('method').notNullable().defaultTo('deployer');
    t.text('result');
    t.jsonb('evidence').notNullable().defaultTo('{}');
  });
  await db.raw(`alter table verifications add constraint verifications_method_kind check (method in ('scan','deployer')),
    add constraint verifications_result_kind check (result in ('remediated','still_vulnerable','not_scanned','compliant','non_compliant'))`);
  await db.raw('create index verifications_cycle_idx on verifications (cycle_id)');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists verifications_cycle_idx');
  await db.schema.alterTable('verifications', (t) => {
    t.dropColumns('method', 'result', 'evidence');
  });
}
