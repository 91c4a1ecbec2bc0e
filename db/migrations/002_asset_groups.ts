import type { Knex } from 'knex';

/**
 * Saved dynamic groups (a name for an inventory query such as `tier<=2 and exposure=internet`)
 * and the index that lets scanner imports match a reported IP address to an asset.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('asset_groups', (t) => {
    t.text('name').primary();
    // The query text as the user wrote it; it is parsed again whenever the group is evaluated.
    t.text('query').notNullable();
    t.text('description');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });
  await db.raw('create index assets_ips_idx on assets using gin (ips)');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists assets_ips_idx');
  await db.schema.dropTableIfExists('asset_groups');
}
