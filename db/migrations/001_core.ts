import type { Knex } from 'knex';

/**
 * The core model. Checks live in the database as well as in zod so that no path — a bug, a
 * manual psql session, a future importer — can store a tier 7 asset or patch a host twice.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('users', (t) => {
    t.text('id').primary();
    t.text('display_name').notNullable();
    t.specificType('roles', 'text[]').notNullable().defaultTo('{}');
    t.text('slack_user_id').unique();
    t.text('teams_aad_id').unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });

  await db.schema.createTable('assets', (t) => {
    t.uuid('id').primary().defaultTo(db.raw('gen_random_uuid()'));
    t.text('hostname').notNullable().unique();
    t.text('fqdn');
    t.specificType('ips', 'text[]').notNullable().defaultTo('{}');
    t.text('platform');
    t.text('os_version');
    t.text('owner');
    t.text('business_service');
    t.smallint('criticality').notNullable().defaultTo(3);
    t.text('exposure').notNullable().defaultTo('internal');
    t.text('patch_group');
    t.specificType('tags', 'text[]').notNullable().defaultTo('{}');
    t.text('source').notNullable().defaultTo('manual');
    t.jsonb('vars').notNullable().defaultTo('{}');
    t.timestamp('last_seen', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.raw(`alter table assets add constraint assets_criticality_range check (criticality between 1 and 4),
                add constraint assets_exposure_kind check (exposure in ('internet','internal','isolated'))`);
  await db.raw('create index assets_fqdn_idx on assets (lower(fqdn))');

  await db.schema.createTable('cves', (t) => {
    t.text('id').primary();
    t.text('description');
    t.timestamp('published', { useTz: true });
    t.timestamp('last_modified', { useTz: true });
    t.text('cvss_v3_vector');
    t.decimal('cvss_v3_score', 3, 1);
    t.text('cvss_v4_vector');
    t.decimal('cvss_v4_score', 3, 1);
    t.decimal('epss', 6, 5);
    t.decimal('epss_percentile', 6, 5);
    t.date('epss_date');
    t.boolean('kev').notNullable().defaultTo(false);
    t.date('kev_date_added');
    t.date('kev_due_date');
    t.boolean('kev_ransomware').notNullable().defaultTo(false);
    t.text('kev_notes');
    t.jsonb('data').notNullable().defaultTo('{}');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });

  await db.schema.createTable('advisories', (t) => {
    t.text('id').primary();
    t.text('source').notNullable();
    t.text('vendor');
    t.text('title').notNullable();
    t.text('severity');
    t.timestamp('published', { useTz: true });
    t.text('url');
    t.jsonb('data').notNullable().defaultTo('{}');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.schema.createTable('advisory_cves', (t) => {
    t.text('advisory_id').notNullable().references('advisories.id').onDelete('CASCADE');
    t.text('cve_id').notNullable();
    t.primary(['advisory_id', 'cve_id']);
  });

  await db.schema.createTable('patches', (t) => {
    t.text('id').primary();
    t.text('title').notNullable();
    t.text('vendor_ref').notNullable();
    t.text('vendor');
    t.text('classification');
    t.text('severity');
    t.text('platform');
    t.text('target_version');
    t.date('released_at');
    t.text('advisory_id').references('advisories.id').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.schema.createTable('patch_cves', (t) => {
    t.text('patch_id').notNullable().references('patches.id').onDelete('CASCADE');
    t.text('cve_id').notNullable();
    t.primary(['patch_id', 'cve_id']);
  });

  await db.schema.createTable('findings', (t) => {
    t.bigIncrements('id');
    t.uuid('asset_id').notNullable().references('assets.id').onDelete('CASCADE');
    t.text('source').notNullable();
    t.text('plugin_id').notNullable();
    // '' when the finding names no CVE, so that the natural key below stays unique.
    t.text('cve_id').notNullable().defaultTo('');
    t.smallint('severity').notNullable();
    t.text('title').notNullable();
    t.text('port');
    t.text('protocol');
    t.text('status').notNullable().defaultTo('open');
    t.timestamp('first_seen', { useTz: true }).notNullable();
    t.timestamp('last_seen', { useTz: true }).notNullable();
    t.jsonb('evidence').notNullable().defaultTo('{}');
    t.unique(['asset_id', 'source', 'plugin_id', 'cve_id']);
  });
  await db.raw(`alter table findings add constraint findings_severity_range check (severity between 0 and 4),
                add constraint findings_status_kind check (status in ('open','fixed','accepted'))`);

  await db.schema.createTable('feed_state', (t) => {
    t.text('feed').primary();
    t.text('etag');
    t.text('last_modified');
    t.text('cursor');
    t.timestamp('synced_at', { useTz: true });
  });

  await db.schema.createTable('cycles', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('status').notNullable();
    t.text('phase').notNullable();
    t.text('requester').notNullable();
    t.jsonb('request').notNullable();
    t.jsonb('policy').notNullable();
    t.jsonb('summary').notNullable().defaultTo('{}');
    t.text('workflow_id').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('completed_at', { useTz: true });
  });

  await db.schema.createTable('cycle_targets', (t) => {
    t.bigIncrements('id');
    t.text('cycle_id').notNullable().references('cycles.id').onDelete('CASCADE');
    t.uuid('asset_id').notNullable().references('assets.id');
    t.text('patch_id').notNullable().references('patches.id');
    t.text('ring').notNullable();
    t.integer('ring_order').notNullable();
    t.text('status').notNullable().defaultTo('pending');
    t.unique(['cycle_id', 'asset_id', 'patch_id']);
  });

  await db.schema.createTable('approvals', (t) => {
    t.bigIncrements('id');
    t.text('cycle_id').notNullable().references('cycles.id').onDelete('CASCADE');
    t.text('decision').notNullable();
    t.text('decided_by').notNullable();
    t.text('reason');
    t.text('channel').notNullable();
    t.timestamp('decided_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    // One decision per person per cycle: an Update retried by the client must not count twice towards quorum.
    t.unique(['cycle_id', 'decided_by']);
  });

  await db.schema.createTable('deployments', (t) => {
    t.bigIncrements('id');
    t.text('cycle_id').notNullable().references('cycles.id').onDelete('CASCADE');
    t.uuid('asset_id').notNullable().references('assets.id');
    t.text('patch_id').notNullable().references('patches.id');
    t.text('idempotency_key').notNullable();
    t.text('phase').notNullable();
    t.integer('attempt').notNullable();
    t.text('outcome').notNullable();
    t.text('message').notNullable().defaultTo('');
    t.jsonb('evidence').notNullable().defaultTo('{}');
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('finished_at', { useTz: true });
  });
  // The guarantee behind "a retry never patches twice": at most one successful install per cycle × asset × patch.
  await db.raw(`create unique index deployments_one_success on deployments (idempotency_key)
                where outcome in ('patched','already_compliant') and phase in ('testing','deployment')`);
  await db.raw('create index deployments_cycle_idx on deployments (cycle_id)');

  await db.schema.createTable('verifications', (t) => {
    t.bigIncrements('id');
    t.text('cycle_id').notNullable().references('cycles.id').onDelete('CASCADE');
    t.uuid('asset_id').notNullable().references('assets.id');
    t.text('patch_id').notNullable().references('patches.id');
    t.boolean('compliant').notNullable();
    t.text('message').notNullable();
    t.timestamp('checked_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });

  await db.schema.createTable('reviews', (t) => {
    t.bigIncrements('id');
    t.text('cycle_id').notNullable().unique().references('cycles.id').onDelete('CASCADE');
    t.text('status').notNullable();
    t.jsonb('facts').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });

  await db.schema.createTable('audit_events', (t) => {
    t.bigIncrements('seq');
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('actor').notNullable();
    t.text('action').notNullable();
    t.text('subject_type').notNullable();
    t.text('subject_id').notNullable();
    t.jsonb('data').notNullable();
    t.text('prev_hash').notNullable();
    t.text('hash').notNullable().unique();
  });
  // Append-only: the database itself refuses to rewrite history, whoever asks.
  await db.raw(`create function audit_events_append_only() returns trigger language plpgsql as $$
    begin raise exception 'audit_events is append-only (% refused)', tg_op; end $$`);
  await db.raw(`create trigger audit_events_no_update before update or delete on audit_events
                for each row execute function audit_events_append_only()`);
  await db.raw(`create trigger audit_events_no_truncate before truncate on audit_events
                for each statement execute function audit_events_append_only()`);
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'audit_events',
    'reviews',
    'verifications',
    'deployments',
    'approvals',
    'cycle_targets',
    'cycles',
    'feed_state',
    'findings',
    'patch_cves',
    'patches',
    'advisory_cves',
    'advisories',
    'cves',
    'assets',
    'users',
  ]) {
    await db.schema.dropTableIfExists(table);
  }
  await db.raw('drop function if exists audit_events_append_only() cascade');
}
