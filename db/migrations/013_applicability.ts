import type { Knex } from 'knex';
import { productKey, windowsBuild } from '../../prioritization/products.ts';
import { versionKey } from '../../prioritization/versions.ts';

/**
 * Which patch applies to which asset. An asset names its operating system (`os_name`, as the
 * inventory or a scanner wrote it) and from that its product (`product`, e.g. "windows server
 * 2022"; null when the name maps to none); a patch lists the products, packages and fixed versions
 * it covers (`patch_products`), the patches it supersedes and whether it is a hotpatch. Versions
 * are stored with their comparable keys (prioritization/versions.ts).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('assets', (t) => {
    t.text('os_name');
    t.text('product');
    t.text('os_build_key');
    t.text('mac');
    t.boolean('hotpatch').notNullable().defaultTo(false);
  });
  await db.raw('create index assets_product_idx on assets (product)');
  await db.schema.createTable('asset_packages', (t) => {
    t.uuid('asset_id').notNullable().references('assets.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('arch').notNullable().defaultTo('');
    t.text('version').notNullable();
    t.text('version_key').notNullable();
    t.text('source').notNullable();
    t.timestamp('seen_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.primary(['asset_id', 'name', 'arch']);
  });
  await db.schema.alterTable('patches', (t) => {
    t.specificType('supersedes', 'text[]').notNullable().defaultTo('{}');
    t.boolean('hotpatch').notNullable().defaultTo(false);
  });
  await db.schema.createTable('patch_products', (t) => {
    t.text('patch_id').notNullable().references('patches.id').onDelete('CASCADE');
    t.text('product').notNullable();
    t.text('product_name').notNullable();
    // '' for an update of the whole OS (a Windows KB); a package name for a Linux errata.
    t.text('package').notNullable().defaultTo('');
    t.text('arch').notNullable().defaultTo('');
    t.text('fixed_version');
    t.text('fixed_key');
    t.primary(['patch_id', 'product', 'package', 'arch']);
  });
  await db.raw('create index patch_products_product_idx on patch_products (product, package)');

  // Assets stored before: their platform and version are all they say about their OS.
  const assets = (await db('assets').select('id', 'platform', 'os_version')) as {
    id: string;
    platform: string | null;
    os_version: string | null;
  }[];
  for (const a of assets) {
    const product = productKey({ platform: a.platform, version: a.os_version });
    const build = windowsBuild(a.os_version ?? undefined);
    if (product || build)
      await db('assets')
        .where({ id: a.id })
        .update({ product: product ?? null, os_build_key: build ? versionKey(a.os_version!) : null });
  }
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('patch_products');
  await db.schema.alterTable('patches', (t) => {
    t.dropColumn('supersedes');
    t.dropColumn('hotpatch');
  });
  await db.schema.dropTable('asset_packages');
  await db.schema.alterTable('assets', (t) => {
    t.dropColumns('os_name', 'product', 'os_build_key', 'mac', 'hotpatch');
  });
}
