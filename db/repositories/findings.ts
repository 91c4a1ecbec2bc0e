import type { Knex } from 'knex';

/**
 * Scanner findings: one row per asset × source × plugin/NVT × CVE ('' when the finding names no
 * CVE). A batch goes in as one JSON parameter (jsonb_to_recordset) holding one entry per asset ×
 * plugin with its CVE list, expanded to rows in SQL: a thousand rows cost one round trip and a
 * fraction of the JSON that one object per row would.
 */
export interface FindingUpsert {
  asset_id: string;
  plugin_id: string;
  /** Distinct CVE ids; empty for a finding that names none. */
  cve_ids: string[];
  severity: number;
  title: string;
  port: string | null;
  protocol: string | null;
  evidence: Record<string, unknown>;
}

export interface ScannedCve {
  id: string;
  cvssV3Vector?: string | undefined;
  cvssV3Score?: number | undefined;
}

/** What one batch of a scan report writes. */
export interface ScanBatch {
  /** CVE ids the findings name that the import has not sent yet, or sent without the CVSS vector these carry. */
  cves: ScannedCve[];
  /**
   * Findings of assets that had none from this source before the import (`matchHostsToAssets`
   * says which) and none written earlier in it. Inserted without an upsert's conflict check, a
   * fifth of Postgres's work, since nothing can conflict: the import holds `lockFindingsForImport`.
   */
  findingsOfNewAssets: FindingUpsert[];
  /** Every other finding, upserted. */
  findings: FindingUpsert[];
}

/**
 * Serialises scan imports for the rest of the transaction: while one runs no other transaction
 * adds findings, which is what lets it insert `findingsOfNewAssets` without an upsert.
 */
export async function lockFindingsForImport(trx: Knex.Transaction): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['findings:import']);
}

const findingColumns =
  'asset_id, source, plugin_id, cve_id, severity, title, port, protocol, status, first_seen, last_seen, evidence';
/** A batch's finding rows: each entry expanded to one row per CVE, or one row with cve_id '' when it names none. */
const findingRowsSql = `
  select r.asset_id, ?::text, r.plugin_id, c.cve_id, r.severity, r.title, r.port, r.protocol, 'open', ?::timestamptz, ?::timestamptz, r.evidence
  from jsonb_to_recordset(?::jsonb) as r(asset_id uuid, plugin_id text, cve_ids text[], severity smallint, title text, port text, protocol text, evidence jsonb)
  cross join lateral unnest(case when cardinality(r.cve_ids) > 0 then r.cve_ids else array[''] end) as c(cve_id)`;

/**
 * One statement per batch, so that Postgres never waits for the importer between its parts.
 *
 * A report's CVSS only fills a gap: the CVE feeds own these facts, and a scanner plugin's vector
 * describes the plugin, not necessarily each CVE it lists.
 *
 * A finding seen again keeps its first_seen; a fixed one reopens (its closure cleared), an accepted one stays accepted
 * (accepting a risk is a decision a rescan must not undo). Callers send each asset × plugin once
 * per batch: Postgres refuses to update the same row twice in one statement.
 */
const writeScanBatchSql = `
  with scanned_cves as (
    insert into cves as c (id, cvss_v3_vector, cvss_v3_score)
    select r.id, r.cvss_v3_vector, r.cvss_v3_score
    from jsonb_to_recordset(?::jsonb) as r(id text, cvss_v3_vector text, cvss_v3_score numeric)
    on conflict (id) do update set
      cvss_v3_vector = coalesce(c.cvss_v3_vector, excluded.cvss_v3_vector),
      cvss_v3_score = coalesce(c.cvss_v3_score, excluded.cvss_v3_score)
    where (c.cvss_v3_vector is null and excluded.cvss_v3_vector is not null)
       or (c.cvss_v3_score is null and excluded.cvss_v3_score is not null)
  ), findings_of_new_assets as (
    insert into findings (${findingColumns}) ${findingRowsSql}
  )
  insert into findings as f (${findingColumns}) ${findingRowsSql}
  on conflict (asset_id, source, plugin_id, cve_id) do update set
    severity = excluded.severity,
    title = excluded.title,
    port = excluded.port,
    protocol = excluded.protocol,
    evidence = excluded.evidence,
    last_seen = greatest(f.last_seen, excluded.last_seen),
    status = case when f.status = 'fixed' then 'open' else f.status end,
    fixed_at = case when f.status = 'fixed' then null else f.fixed_at end,
    fixed_by = case when f.status = 'fixed' then null else f.fixed_by end`;

export async function writeScanBatch(
  trx: Knex.Transaction,
  source: string,
  batch: ScanBatch,
  seenAt: string,
): Promise<void> {
  if (batch.cves.length + batch.findingsOfNewAssets.length + batch.findings.length === 0) return;
  const cves = batch.cves.map((c) => ({
    id: c.id,
    cvss_v3_vector: c.cvssV3Vector ?? null,
    cvss_v3_score: c.cvssV3Score ?? null,
  }));
  await trx.raw(writeScanBatchSql, [
    JSON.stringify(cves),
    ...[batch.findingsOfNewAssets, batch.findings].flatMap((findings) => [
      source,
      seenAt,
      seenAt,
      JSON.stringify(findings),
    ]),
  ]);
}

export interface HostIdentity {
  key: string;
  names: string[];
  ips: string[];
}

interface MatchRow {
  id: string;
  hostname: string;
  fqdn: string | null;
  ips: string[];
  has_findings: boolean;
}

export interface AssetMatch {
  id: string;
  /** Whether the asset had findings from the source asked about when it was matched. */
  hasFindings: boolean;
}

/**
 * Finds each host's asset by hostname, then FQDN, then IP address, all case-insensitive; one
 * query for the whole set, whose conditions each have an index. Hosts without an asset map to
 * null. Says too whether each asset has findings from `source`, one index probe per asset.
 */
export async function matchHostsToAssets(
  db: Knex,
  hosts: HostIdentity[],
  source: string,
): Promise<Map<string, AssetMatch | null>> {
  const names = [...new Set(hosts.flatMap((h) => h.names))];
  const ips = [...new Set(hosts.flatMap((h) => h.ips))];
  const rows = (await db('assets as a')
    .select(
      'a.id',
      'a.hostname',
      'a.fqdn',
      'a.ips',
      db.raw('exists (select 1 from findings f where f.asset_id = a.id and f.source = ?) as has_findings', [source]),
    )
    .whereRaw('a.hostname = any(?::text[])', [names])
    .orWhereRaw('lower(a.fqdn) = any(?::text[])', [names])
    .orWhereRaw('a.ips && ?::text[]', [ips])
    .orderBy('a.hostname')) as MatchRow[];
  const byHostname = new Map<string, MatchRow>();
  const byFqdn = new Map<string, MatchRow>();
  const byIp = new Map<string, MatchRow>();
  for (const r of rows) {
    byHostname.set(r.hostname.toLowerCase(), r);
    if (r.fqdn && !byFqdn.has(r.fqdn.toLowerCase())) byFqdn.set(r.fqdn.toLowerCase(), r);
    for (const ip of r.ips) if (!byIp.has(ip.toLowerCase())) byIp.set(ip.toLowerCase(), r);
  }
  const lookup = (map: Map<string, MatchRow>, keys: string[]) =>
    keys.map((k) => map.get(k)).find((r) => r !== undefined);
  return new Map(
    hosts.map((h) => {
      const r = lookup(byHostname, h.names) ?? lookup(byFqdn, h.names) ?? lookup(byIp, h.ips);
      return [h.key, r ? { id: r.id, hasFindings: r.has_findings } : null];
    }),
  );
}

/**
 * Closes the open findings of `source` on the scanned assets that this scan no longer reports
 * (their last_seen is older than the scan), as DefectDojo's close_old_findings does: the scan of
 * the host is the fresh evidence. Hosts the scan did not cover keep theirs. Returns how many closed.
 */
export async function closeUnreportedFindings(
  trx: Knex.Transaction,
  source: string,
  scannedAssetIds: string[],
  seenAt: string,
): Promise<number> {
  if (scannedAssetIds.length === 0) return 0;
  return trx('findings')
    .where({ source, status: 'open' })
    .whereRaw('asset_id = any(?::uuid[])', [scannedAssetIds])
    .where('last_seen', '<', seenAt)
    .update({ status: 'fixed', fixed_at: seenAt, fixed_by: `${source} scan` });
}
