import type { Knex } from 'knex';
import type { CveUpsert } from '../../integrations/contract/index.ts';

/** Exploitation evidence short of KEV membership: a public exploit ('poc') or a vendor/CISA report of attacks ('active'). */
export type ExploitEvidence = 'poc' | 'active';

/** A CVE as our feeds report it: the role contract's fields plus the exploitation evidence some feeds carry. */
export type CveFacts = CveUpsert & {
  exploitEvidence?: ExploitEvidence | undefined;
  /** SSVC as CISA's ADP container states it; absent when the record carries no such values. */
  cisaSsvc?: { automatable?: boolean | undefined; totalImpact?: boolean | undefined } | undefined;
};

export interface UpsertCounts {
  inserted: number;
  updated: number;
}

// One statement per chunk keeps the parameter small while a 300k-row EPSS file stays within one transaction.
const chunkSize = 5000;

/**
 * Which value wins for the fields a CVE record owns (description, dates, CVSS): a record carrying a
 * modification date at least as new as the stored one replaces what it states; anything else — a
 * vendor advisory's CVSS, an older record — only fills gaps. Nothing ever turns a value back into null.
 */
const recordOwned = (field: string) =>
  `${field} = case when excluded.last_modified is not null and (c.last_modified is null or excluded.last_modified >= c.last_modified)
     then coalesce(excluded.${field}, c.${field}) else coalesce(c.${field}, excluded.${field}) end`;

/** EPSS scores are daily: an older score file never replaces a newer one. */
const epssOwned = (field: string) =>
  `${field} = case when excluded.epss is not null and (c.epss_date is null or excluded.epss_date is null or excluded.epss_date >= c.epss_date)
     then excluded.${field} else c.${field} end`;

/** KEV facts change only when the row comes from the KEV catalogue (it carries dateAdded). */
const kevOwned = (field: string) => `${field} = case when excluded.kev then excluded.${field} else c.${field} end`;

const upsertSql = `
  with src as (
    select * from jsonb_to_recordset(?::jsonb) as r(
      id text, description text, published timestamptz, last_modified timestamptz,
      cvss_v3_vector text, cvss_v3_score numeric, cvss_v4_vector text, cvss_v4_score numeric,
      epss numeric, epss_percentile numeric, epss_date date,
      kev_date_added date, kev_due_date date, kev_ransomware boolean, kev_notes text, exploit_evidence text,
      cisa_automatable boolean, cisa_total_impact boolean)
  )
  insert into cves as c (id, description, published, last_modified, cvss_v3_vector, cvss_v3_score, cvss_v4_vector, cvss_v4_score,
                         epss, epss_percentile, epss_date, kev, kev_date_added, kev_due_date, kev_ransomware, kev_notes, exploit_evidence,
                         cisa_automatable, cisa_total_impact, updated_at)
  select id, description, published, last_modified, cvss_v3_vector, cvss_v3_score, cvss_v4_vector, cvss_v4_score,
         epss, epss_percentile, epss_date, kev_date_added is not null, kev_date_added, kev_due_date, coalesce(kev_ransomware, false), kev_notes, exploit_evidence,
         cisa_automatable, cisa_total_impact, now()
  from src
  on conflict (id) do update set
    ${['description', 'published', 'cvss_v3_vector', 'cvss_v3_score', 'cvss_v4_vector', 'cvss_v4_score'].map(recordOwned).join(',\n    ')},
    last_modified = greatest(c.last_modified, excluded.last_modified),
    ${['epss_percentile', 'epss_date', 'epss'].map(epssOwned).join(',\n    ')},
    kev = c.kev or excluded.kev,
    ${['kev_date_added', 'kev_due_date', 'kev_ransomware', 'kev_notes'].map(kevOwned).join(',\n    ')},
    exploit_evidence = case when 'active' in (c.exploit_evidence, excluded.exploit_evidence) then 'active'
                            else coalesce(excluded.exploit_evidence, c.exploit_evidence) end,
    -- CISA's values come only with its ADP container; a record without them keeps what CISA stated before.
    cisa_automatable = coalesce(excluded.cisa_automatable, c.cisa_automatable),
    cisa_total_impact = coalesce(excluded.cisa_total_impact, c.cisa_total_impact),
    updated_at = now()
  returning (xmax = 0) as inserted`;

/**
 * After a whole KEV catalogue is stored: CVEs it does not list lose their KEV facts, so that their
 * KEV deadline and score boost go too. Returns how many left the catalogue.
 */
export async function clearKevExcept(db: Knex, listed: string[]): Promise<number> {
  return db('cves').where({ kev: true }).whereRaw('not (id = any(?::text[]))', [listed]).update({
    kev: false,
    kev_date_added: null,
    kev_due_date: null,
    kev_ransomware: false,
    kev_notes: null,
    updated_at: db.fn.now(),
  });
}

/** Inserts or merges CVE facts; a field a feed does not state keeps whatever another feed stored. */
export async function upsertCves(db: Knex, cves: CveFacts[]): Promise<UpsertCounts> {
  const rows = [...mergeById(cves).values()].map(toRow);
  const counts: UpsertCounts = { inserted: 0, updated: 0 };
  for (let i = 0; i < rows.length; i += chunkSize) {
    const result = (await db.raw(upsertSql, [JSON.stringify(rows.slice(i, i + chunkSize))])) as {
      rows: { inserted: boolean }[];
    };
    for (const r of result.rows) counts[r.inserted ? 'inserted' : 'updated'] += 1;
  }
  return counts;
}

/** One row per id, later facts over earlier ones: Postgres refuses to update a row twice in one statement. */
function mergeById(cves: CveFacts[]): Map<string, CveFacts> {
  const byId = new Map<string, CveFacts>();
  for (const c of cves) {
    const prev = byId.get(c.id);
    byId.set(c.id, prev ? { ...prev, ...definedFields(c) } : c);
  }
  return byId;
}

function definedFields<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function toRow(c: CveFacts) {
  return {
    id: c.id,
    description: c.description ?? null,
    published: c.published ?? null,
    last_modified: c.lastModified ?? null,
    cvss_v3_vector: c.cvssV3Vector ?? null,
    cvss_v3_score: c.cvssV3Score ?? null,
    cvss_v4_vector: c.cvssV4Vector ?? null,
    cvss_v4_score: c.cvssV4Score ?? null,
    epss: c.epss ?? null,
    epss_percentile: c.epssPercentile ?? null,
    epss_date: c.epssDate ?? null,
    kev_date_added: c.kev?.dateAdded ?? null,
    kev_due_date: c.kev?.dueDate ?? null,
    kev_ransomware: c.kev?.ransomware ?? null,
    kev_notes: c.kev?.notes ?? null,
    exploit_evidence: c.exploitEvidence ?? null,
    cisa_automatable: c.cisaSsvc?.automatable ?? null,
    cisa_total_impact: c.cisaSsvc?.totalImpact ?? null,
  };
}

export interface CveRow {
  id: string;
  description: string | null;
  cvss_v3_vector: string | null;
  cvss_v3_score: number | null;
  cvss_v4_vector: string | null;
  cvss_v4_score: number | null;
  epss: number | null;
  epss_percentile: number | null;
  kev: boolean;
  kev_ransomware: boolean;
  exploit_evidence: ExploitEvidence | null;
}

export async function getCve(db: Knex, id: string): Promise<CveRow | undefined> {
  return (await db('cves').where({ id }).first()) as CveRow | undefined;
}
