import type { Knex } from 'knex';

/** An asset's history and compliance (app/asset-records.ts) read these tables by asset; without the indexes every request scans them whole. */
export async function up(db: Knex): Promise<void> {
  await db.raw('create index cycle_targets_asset_idx on cycle_targets (asset_id)');
  await db.raw('create index deployments_asset_patch_idx on deployments (asset_id, patch_id)');
  await db.raw('create index verifications_asset_idx on verifications (asset_id)');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists cycle_targets_asset_idx');
  await db.raw('drop index if exists deployments_asset_patch_idx');
  await db.raw('drop index if exists verifications_asset_idx');
}
