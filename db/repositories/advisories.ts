import type { Knex } from 'knex';
import type { AdvisoryUpsert } from '../../integrations/contract/index.ts';
import { versionKey } from '../../prioritization/versions.ts';

/**
 * One product a patch covers: the product key (prioritization/products.ts) and the vendor's own
 * name for it, the package when the patch is a package update, and the version that fixes it (a
 * Windows build, a package's epoch:version-release).
 */
export interface PatchApplicability {
  product: string;
  productName: string;
  package?: string | undefined;
  arch?: string | undefined;
  fixedVersion?: string | undefined;
}

/** A remediation as our feeds report it: the role contract's fields plus what the patches table can hold. */
export type RemediationFacts = AdvisoryUpsert['remediations'][number] & {
  /** Which products, packages and versions it fixes; absent for a patch known only by name (it then applies by platform). */
  applies?: PatchApplicability[] | undefined;
  /** The vendor references of the patches it replaces (MSRC Supercedence): those are not proposed where this one applies. */
  supersedes?: string[] | undefined;
  /** A Windows hotpatch: installs without a restart, only on hotpatch-enrolled assets. */
  hotpatch?: boolean | undefined;
  /** The CVEs this remediation fixes; absent means every CVE of the advisory. */
  cves?: string[] | undefined;
  classification?: string | undefined;
  severity?: string | undefined;
  platform?: string | undefined;
  targetVersion?: string | undefined;
  releasedAt?: string | undefined;
};
export type AdvisoryFacts = Omit<AdvisoryUpsert, 'remediations'> & { remediations: RemediationFacts[] };

export interface AdvisoryUpsertCounts {
  advisories: number;
  advisoryCves: number;
  patches: number;
  patchCves: number;
}

const chunkSize = 2000;

/**
 * Advisories, the patches they name (a patch's id is its vendor reference: `KB5033371`,
 * `RHSA-2022:0011`) and the CVE links of both. Links are only ever added, and a patch field
 * already stored — by another advisory, by WSUS, by hand — is kept unless this feed states one.
 */
export async function upsertAdvisories(db: Knex, advisories: AdvisoryFacts[]): Promise<AdvisoryUpsertCounts> {
  const counts: AdvisoryUpsertCounts = { advisories: 0, advisoryCves: 0, patches: 0, patchCves: 0 };
  for (const a of advisories) {
    await db('advisories')
      .insert({
        id: a.id,
        source: a.source,
        vendor: a.vendor ?? null,
        title: a.title,
        severity: a.severity ?? null,
        published: a.published ?? null,
        url: a.url ?? null,
        data: advisoryData(a),
      })
      .onConflict('id')
      .merge({
        source: db.raw('excluded.source'),
        title: db.raw('excluded.title'),
        vendor: db.raw('coalesce(excluded.vendor, advisories.vendor)'),
        severity: db.raw('coalesce(excluded.severity, advisories.severity)'),
        published: db.raw('coalesce(excluded.published, advisories.published)'),
        url: db.raw('coalesce(excluded.url, advisories.url)'),
        data: db.raw('advisories.data || excluded.data'),
        updated_at: db.fn.now(),
      });
    counts.advisories += 1;
    counts.advisoryCves += await insertLinks(
      db,
      'advisory_cves',
      [...new Set(a.cves)].map((cve) => ({ advisory_id: a.id, cve_id: cve })),
    );
  }

  const patches = patchRows(advisories);
  for (const p of patches.values()) {
    await db('patches')
      .insert(p.row)
      .onConflict('id')
      .merge({
        vendor: db.raw('coalesce(excluded.vendor, patches.vendor)'),
        classification: db.raw('coalesce(excluded.classification, patches.classification)'),
        severity: db.raw('coalesce(excluded.severity, patches.severity)'),
        platform: db.raw('coalesce(excluded.platform, patches.platform)'),
        target_version: db.raw('coalesce(excluded.target_version, patches.target_version)'),
        released_at: db.raw('coalesce(patches.released_at, excluded.released_at)'),
        advisory_id: db.raw('coalesce(patches.advisory_id, excluded.advisory_id)'),
        supersedes: db.raw(
          'array(select distinct s from unnest(patches.supersedes || excluded.supersedes) s order by s)',
        ),
        hotpatch: db.raw('patches.hotpatch or excluded.hotpatch'),
      });
    counts.patches += 1;
  }
  const products = [...patches.values()].flatMap((p) => [...p.applies.values()]);
  for (let i = 0; i < products.length; i += chunkSize)
    await db('patch_products')
      .insert(products.slice(i, i + chunkSize))
      .onConflict(['patch_id', 'product', 'package', 'arch'])
      .merge(['product_name', 'fixed_version', 'fixed_key']);
  counts.patchCves += await insertLinks(
    db,
    'patch_cves',
    [...patches.values()].flatMap((p) => [...p.cves].map((cve) => ({ patch_id: p.row.id, cve_id: cve }))),
  );
  return counts;
}

/** The patches table has no product column; which products each remediation covers is kept with the advisory. */
function advisoryData(a: AdvisoryFacts): Record<string, unknown> {
  return {
    ...a.data,
    remediations: a.remediations.map((r) => ({ vendorRef: r.vendorRef, product: r.product, url: r.url })),
  };
}

interface PatchRow {
  row: {
    id: string;
    title: string;
    vendor_ref: string;
    vendor: string | null;
    classification: string | null;
    severity: string | null;
    platform: string | null;
    target_version: string | null;
    released_at: string | null;
    advisory_id: string;
    supersedes: string[];
    hotpatch: boolean;
  };
  cves: Set<string>;
  applies: Map<string, PatchProductRow>;
}

interface PatchProductRow {
  patch_id: string;
  product: string;
  product_name: string;
  package: string;
  arch: string;
  fixed_version: string | null;
  fixed_key: string | null;
}

function addApplicability(row: PatchRow, applies: PatchApplicability[] | undefined): void {
  for (const a of applies ?? []) {
    const pkg = a.package ?? '';
    const arch = a.arch ?? '';
    const key = `${a.product}\u0000${pkg}\u0000${arch}`;
    if (row.applies.has(key)) continue;
    row.applies.set(key, {
      patch_id: row.row.id,
      product: a.product,
      product_name: a.productName,
      package: pkg,
      arch,
      fixed_version: a.fixedVersion ?? null,
      fixed_key: a.fixedVersion ? versionKey(a.fixedVersion) : null,
    });
  }
}

/** One row per patch id: MSRC names the same KB under several products, and several advisories may name one patch. */
function patchRows(advisories: AdvisoryFacts[]): Map<string, PatchRow> {
  const byId = new Map<string, PatchRow>();
  for (const a of advisories) {
    for (const r of a.remediations) {
      const cves = r.cves ?? a.cves;
      const prev = byId.get(r.vendorRef);
      if (prev) {
        for (const c of cves) prev.cves.add(c);
        prev.row.target_version ??= r.targetVersion ?? null;
        prev.row.supersedes = [...new Set([...prev.row.supersedes, ...(r.supersedes ?? [])])].sort();
        prev.row.hotpatch ||= r.hotpatch ?? false;
        addApplicability(prev, r.applies);
        continue;
      }
      const row: PatchRow = {
        row: {
          id: r.vendorRef,
          title: r.title,
          vendor_ref: r.vendorRef,
          vendor: a.vendor ?? null,
          classification: r.classification ?? null,
          severity: r.severity ?? a.severity ?? null,
          platform: r.platform ?? null,
          target_version: r.targetVersion ?? null,
          released_at: r.releasedAt ?? a.published?.slice(0, 10) ?? null,
          advisory_id: a.id,
          supersedes: [...new Set(r.supersedes ?? [])].sort(),
          hotpatch: r.hotpatch ?? false,
        },
        cves: new Set(cves),
        applies: new Map(),
      };
      addApplicability(row, r.applies);
      byId.set(r.vendorRef, row);
    }
  }
  return byId;
}

async function insertLinks(
  db: Knex,
  table: 'advisory_cves' | 'patch_cves',
  rows: Record<string, string>[],
): Promise<number> {
  let inserted = 0;
  for (let i = 0; i < rows.length; i += chunkSize) {
    const result = (await db(table)
      .insert(rows.slice(i, i + chunkSize))
      .onConflict()
      .ignore()
      .returning('*')) as unknown[];
    inserted += result.length;
  }
  return inserted;
}
