import type { Knex } from 'knex';
import { z } from 'zod';
import { ConflictError, isUniqueViolation, NotFoundError } from '../../kernel/errors.ts';
import { applyAssetQuery, type AssetQuery } from './asset-query.ts';
import { productKey, windowsBuild } from '../../prioritization/products.ts';
import { versionKey } from '../../prioritization/versions.ts';

export const criticalitySchema = z.coerce
  .number()
  .int()
  .min(1, 'tier 1 (most critical) to 4')
  .max(4, 'tier 1 (most critical) to 4');
export const exposureSchema = z.enum(['internet', 'internal', 'isolated']);

const hostnameSchema = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dots, dashes and underscores')
  .transform((h) => h.toLowerCase());
const fqdnSchema = z
  .string()
  .trim()
  .max(253)
  .transform((h) => h.toLowerCase());
// Lower-case so that scanner IPv6 addresses match whatever case the inventory was typed in.
const ipsSchema = z.array(z.union([z.ipv4(), z.ipv6()], 'an IPv4 or IPv6 address').transform((ip) => ip.toLowerCase()));
const textSchema = (max: number) => z.string().trim().max(max);
const tagsSchema = z.array(z.string().trim().min(1).max(100));
const varsSchema = z.record(z.string(), z.unknown());
const macSchema = z
  .string()
  .trim()
  .regex(/^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$/, 'a MAC address such as 00:50:56:aa:bb:cc')
  .transform((m) => m.toLowerCase().replace(/-/g, ':'));
/** Installed packages, for advisories that name packages and fixed versions (CSAF, RHSA). */
export const installedPackageSchema = z.object({
  name: z.string().trim().min(1).max(200),
  version: z.string().trim().min(1).max(200).regex(/\d/, 'a version such as 1:0.17-64.el7'),
  arch: z.string().trim().max(50).default(''),
});
export type InstalledPackage = z.output<typeof installedPackageSchema>;

/** An asset as people and importers describe it. Hostnames are matched case-insensitively, so stored lower-case. */
export const assetInputSchema = z.object({
  hostname: hostnameSchema,
  fqdn: fqdnSchema.optional(),
  ips: ipsSchema.default([]),
  platform: textSchema(100).optional(),
  /** The OS as the inventory or scanner names it: "Microsoft Windows Server 2022 Standard", "Red Hat Enterprise Linux 9.2". */
  osName: textSchema(200).optional(),
  osVersion: textSchema(100).optional(),
  mac: macSchema.optional(),
  /** Enrolled in Windows hotpatching: gets hotpatch updates instead of the monthly cumulative update where one exists. */
  hotpatch: z.boolean().default(false),
  owner: textSchema(200).optional(),
  businessService: textSchema(200).optional(),
  criticality: criticalitySchema.default(3),
  exposure: exposureSchema.default('internal'),
  patchGroup: textSchema(100).optional(),
  tags: tagsSchema.default([]),
  source: z.string().min(1).default('manual'),
  vars: varsSchema.default({}),
  /** When given, the asset's installed packages as this source sees them now (replacing what it said before). */
  packages: z.array(installedPackageSchema).max(20_000).optional(),
});
export type AssetInput = z.input<typeof assetInputSchema>;
export type Asset = Omit<z.output<typeof assetInputSchema>, 'packages'> & {
  id: string;
  lastSeen: string | null;
  /** The product the OS name maps to ("windows server 2022"); null when it maps to none and patches with products cannot be chosen for it. */
  product: string | null;
};

interface AssetRow {
  id: string;
  hostname: string;
  fqdn: string | null;
  ips: string[];
  platform: string | null;
  os_name: string | null;
  os_version: string | null;
  mac: string | null;
  hotpatch: boolean;
  product: string | null;
  owner: string | null;
  business_service: string | null;
  criticality: number;
  exposure: Asset['exposure'];
  patch_group: string | null;
  tags: string[];
  source: string;
  vars: Record<string, unknown>;
  last_seen: Date | string | null;
}

export function assetFromRow(r: AssetRow): Asset {
  return {
    id: r.id,
    hostname: r.hostname,
    fqdn: r.fqdn ?? undefined,
    ips: r.ips,
    platform: r.platform ?? undefined,
    osName: r.os_name ?? undefined,
    osVersion: r.os_version ?? undefined,
    mac: r.mac ?? undefined,
    hotpatch: r.hotpatch,
    product: r.product,
    owner: r.owner ?? undefined,
    businessService: r.business_service ?? undefined,
    criticality: r.criticality,
    exposure: r.exposure,
    patchGroup: r.patch_group ?? undefined,
    tags: r.tags,
    source: r.source,
    vars: r.vars,
    lastSeen: r.last_seen === null ? null : new Date(r.last_seen).toISOString(),
  };
}

const columnByField = {
  hostname: 'hostname',
  fqdn: 'fqdn',
  ips: 'ips',
  platform: 'platform',
  osName: 'os_name',
  osVersion: 'os_version',
  mac: 'mac',
  hotpatch: 'hotpatch',
  owner: 'owner',
  businessService: 'business_service',
  criticality: 'criticality',
  exposure: 'exposure',
  patchGroup: 'patch_group',
  tags: 'tags',
  source: 'source',
  vars: 'vars',
} as const satisfies Record<Exclude<keyof z.output<typeof assetInputSchema>, 'packages'>, string>;
export type AssetField = keyof typeof columnByField;

/** A change to some fields of an asset; `null` clears an optional field. */
export const assetPatchSchema = z
  .object({
    hostname: hostnameSchema,
    fqdn: fqdnSchema.nullable(),
    ips: ipsSchema,
    platform: textSchema(100).nullable(),
    osName: textSchema(200).nullable(),
    osVersion: textSchema(100).nullable(),
    mac: macSchema.nullable(),
    hotpatch: z.boolean(),
    owner: textSchema(200).nullable(),
    businessService: textSchema(200).nullable(),
    criticality: criticalitySchema,
    exposure: exposureSchema,
    patchGroup: textSchema(100).nullable(),
    tags: tagsSchema,
    source: z.string().min(1),
    vars: varsSchema,
  } satisfies Record<AssetField, z.ZodType>)
  .partial()
  .strict();
export type AssetPatch = z.output<typeof assetPatchSchema>;

function toColumns(fields: Partial<Record<AssetField, unknown>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields)
      // Packages live in their own table (replaceInstalledPackages).
      .filter(([k, v]) => v !== undefined && k in columnByField)
      .map(([k, v]) => [columnByField[k as AssetField], v]),
  );
}

/**
 * The columns derived from what an asset says of its OS: its product and, for Windows, its build's
 * comparable key. Written with every change of those fields, so that queries only compare.
 */
export function derivedOsColumns(a: {
  platform?: string | null | undefined;
  osName?: string | null | undefined;
  osVersion?: string | null | undefined;
}): { product: string | null; os_build_key: string | null } {
  const build = windowsBuild(a.osVersion ?? undefined);
  return {
    product: productKey({ name: a.osName, version: a.osVersion, platform: a.platform }) ?? null,
    os_build_key: build && a.osVersion ? versionKey(a.osVersion) : null,
  };
}

const allColumnsNull = Object.fromEntries(Object.values(columnByField).map((c) => [c, null]));
const mergedOnUpsert = [
  ...Object.values(columnByField).filter((c) => c !== 'hostname'),
  'product',
  'os_build_key',
  'last_seen',
  'updated_at',
];
/** Rows per INSERT: large imports stay well under Postgres' 65535 bind parameters. */
const UPSERT_CHUNK = 500;

export interface UpsertedAsset {
  id: string;
  hostname: string;
  /** False when a row with this hostname existed and was updated. */
  inserted: boolean;
}

export interface UpsertAssetOptions {
  /**
   * The fields an existing asset takes from the input; the others keep what is stored (a scan's OS
   * name, the owner someone set). Unset: every field, an unset one cleared. New assets get every field.
   */
  mergeFields?: readonly Exclude<AssetField, 'hostname'>[] | undefined;
}

const osFields: readonly AssetField[] = ['platform', 'osName', 'osVersion'];

/** Inserts or updates by hostname, in chunks; callers validate with assetInputSchema first. A hostname listed twice keeps its last entry. */
export async function upsertAssetRows(
  db: Knex,
  assets: z.output<typeof assetInputSchema>[],
  options: UpsertAssetOptions = {},
): Promise<UpsertedAsset[]> {
  const now = new Date().toISOString();
  const rows = [...new Map(assets.map((a) => [a.hostname, a])).values()].map((a) => ({
    ...allColumnsNull,
    ...toColumns(a),
    ...derivedOsColumns(a),
    last_seen: now,
    updated_at: now,
  }));
  const { mergeFields } = options;
  // With mergeFields the derived OS columns are not merged: once an OS field was, they are derived again from what is stored.
  const merged = mergeFields
    ? [...mergeFields.map((f) => columnByField[f]), 'last_seen', 'updated_at']
    : mergedOnUpsert;
  const upserted: UpsertedAsset[] = [];
  for (let i = 0; i < rows.length; i += UPSERT_CHUNK) {
    const result = (await db('assets')
      .insert(rows.slice(i, i + UPSERT_CHUNK))
      .onConflict('hostname')
      .merge(merged)
      .returning(['id', 'hostname', db.raw('(xmax = 0) as inserted')])) as UpsertedAsset[];
    upserted.push(...result);
  }
  if (mergeFields?.some((f) => osFields.includes(f)))
    await rederiveOsColumns(
      db,
      upserted.filter((u) => !u.inserted),
    );
  const ids = new Map(upserted.map((u) => [u.hostname, u.id]));
  for (const a of assets)
    if (a.packages) await replaceInstalledPackages(db, ids.get(a.hostname)!, a.source, a.packages, now);
  return upserted;
}

/** Updated assets whose OS fields were merged only in part: their product and build key from what is stored now. */
async function rederiveOsColumns(db: Knex, updated: UpsertedAsset[]): Promise<void> {
  for (let i = 0; i < updated.length; i += UPSERT_CHUNK) {
    const rows = (await db('assets')
      .whereIn(
        'id',
        updated.slice(i, i + UPSERT_CHUNK).map((u) => u.id),
      )
      .select('id', 'platform', 'os_name', 'os_version')) as Pick<
      AssetRow,
      'id' | 'platform' | 'os_name' | 'os_version'
    >[];
    for (const r of rows)
      await db('assets')
        .where({ id: r.id })
        .update(derivedOsColumns({ platform: r.platform, osName: r.os_name, osVersion: r.os_version }));
  }
}

/** What one source says is installed on an asset now; what it said before is replaced, other sources' lists are kept. */
export async function replaceInstalledPackages(
  db: Knex,
  assetId: string,
  source: string,
  packages: InstalledPackage[],
  seenAt: string,
): Promise<void> {
  await db('asset_packages').where({ asset_id: assetId, source }).delete();
  const rows = [...new Map(packages.map((p) => [`${p.name} ${p.arch}`, p])).values()].map((p) => ({
    asset_id: assetId,
    name: p.name,
    arch: p.arch,
    version: p.version,
    version_key: versionKey(p.version),
    source,
    seen_at: seenAt,
  }));
  for (let i = 0; i < rows.length; i += UPSERT_CHUNK)
    await db('asset_packages')
      .insert(rows.slice(i, i + UPSERT_CHUNK))
      .onConflict(['asset_id', 'name', 'arch'])
      .merge(['version', 'version_key', 'source', 'seen_at']);
}

/** Inserts or updates by hostname; callers validate with assetInputSchema first. Returns ids by hostname. */
export async function upsertAssets(
  db: Knex,
  assets: z.output<typeof assetInputSchema>[],
): Promise<Map<string, string>> {
  return new Map((await upsertAssetRows(db, assets)).map((r) => [r.hostname, r.id]));
}

export interface AssetListOptions {
  query?: AssetQuery | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export async function listAssets(db: Knex, options: AssetListOptions = {}): Promise<Asset[]> {
  const qb = db('assets')
    .select('*')
    .orderBy([{ column: 'criticality', order: 'desc' }, 'hostname']);
  const { query } = options;
  // Wrapped, so that a top-level `or` cannot escape conditions added to the builder later.
  if (query) qb.where((b) => void applyAssetQuery(b, query));
  if (options.limit !== undefined) qb.limit(options.limit);
  if (options.offset !== undefined) qb.offset(options.offset);
  const rows = (await qb) as AssetRow[];
  return rows.map(assetFromRow);
}

export async function countAssets(db: Knex, query?: AssetQuery): Promise<number> {
  const qb = db('assets').count<{ count: number }[]>({ count: '*' });
  if (query) qb.where((b) => void applyAssetQuery(b, query));
  const [row] = await qb;
  return Number(row?.count ?? 0);
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An asset is addressed by its id or, more conveniently, by its hostname. */
function whereRef(qb: Knex.QueryBuilder, ref: string): Knex.QueryBuilder {
  return uuidPattern.test(ref) ? qb.where('id', ref.toLowerCase()) : qb.where('hostname', ref.toLowerCase());
}

export async function getAsset(db: Knex, ref: string): Promise<Asset> {
  const row = (await whereRef(db('assets').select('*'), ref).first()) as AssetRow | undefined;
  if (!row) throw new NotFoundError(`no asset "${ref}"`);
  return assetFromRow(row);
}

export async function patchAsset(db: Knex, ref: string, patch: AssetPatch): Promise<Asset> {
  const rows = await refusingConflicts(
    whereRef(db('assets'), ref)
      .update({ ...toColumns(patch), updated_at: new Date().toISOString() })
      .returning('*'),
    `cannot rename asset "${ref}" to "${patch.hostname}": that hostname is taken`,
  );
  const row = rows[0];
  if (!row) throw new NotFoundError(`no asset "${ref}"`);
  if (patch.platform === undefined && patch.osName === undefined && patch.osVersion === undefined)
    return assetFromRow(row);
  const derived = derivedOsColumns({ platform: row.platform, osName: row.os_name, osVersion: row.os_version });
  await db('assets').where({ id: row.id }).update(derived);
  return assetFromRow({ ...row, ...derived });
}

export async function deleteAsset(db: Knex, ref: string): Promise<Asset> {
  const rows = await refusingConflicts(
    whereRef(db('assets'), ref).delete().returning('*'),
    `asset "${ref}" is a target of a patch cycle and cannot be deleted`,
  );
  if (!rows[0]) throw new NotFoundError(`no asset "${ref}"`);
  return assetFromRow(rows[0]);
}

export interface ScannedAssetFacts {
  assetId: string;
  os?: string | undefined;
  osCpe?: string | undefined;
  mac?: string | undefined;
}

/**
 * A scan saw these assets: they were last seen then, and where the scanner detected their OS or MAC
 * those replace what was known (a scanner reads the system itself; an inventory may be stale). The
 * product is mapped again from the new OS name, or from its CPE when the name maps to none.
 */
export async function updateScannedAssets(db: Knex, scanned: ScannedAssetFacts[], seenAt: string): Promise<void> {
  for (let i = 0; i < scanned.length; i += UPSERT_CHUNK) {
    const chunk = scanned.slice(i, i + UPSERT_CHUNK);
    await db('assets')
      .whereIn(
        'id',
        chunk.map((s) => s.assetId),
      )
      .update({ last_seen: seenAt });
    const described = chunk.filter((s) => s.os || s.osCpe || s.mac);
    if (described.length === 0) continue;
    const rows = (await db('assets')
      .whereIn(
        'id',
        described.map((s) => s.assetId),
      )
      .select('id', 'platform', 'os_name', 'os_version', 'mac')) as Pick<
      AssetRow,
      'id' | 'platform' | 'os_name' | 'os_version' | 'mac'
    >[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const s of described) {
      const row = byId.get(s.assetId);
      if (!row) continue;
      const osName = s.os ?? row.os_name;
      let derived = derivedOsColumns({ platform: row.platform, osName, osVersion: row.os_version });
      if (!derived.product && s.osCpe)
        derived = { ...derived, product: derivedOsColumns({ osName: s.osCpe, osVersion: row.os_version }).product };
      await db('assets')
        .where({ id: s.assetId })
        .update({ os_name: osName, mac: s.mac ?? row.mac, ...derived });
    }
  }
}

/** A unique or foreign-key violation is the caller's conflict with existing data, not a server fault. */
async function refusingConflicts(statement: Knex.QueryBuilder, message: string): Promise<AssetRow[]> {
  try {
    return (await statement) as AssetRow[];
  } catch (err) {
    // 23503: a foreign key names a row that is not there.
    if (isUniqueViolation(err) || (err as { code?: unknown }).code === '23503') throw new ConflictError(message);
    throw err;
  }
}
