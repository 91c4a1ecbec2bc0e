import type { Knex } from 'knex';
import { durationMs } from '../kernel/duration.ts';
import type { PrioritizationPolicy } from './policy.ts';
import {
  bodTimelineTable,
  cisaDecisionTable,
  missionLevels,
  type Decision,
  type Exploitation,
  type MissionImpact,
} from './ssvc.ts';
import { explainFinding } from './explain.ts';

/**
 * Risk scores, SSVC decisions and SLA deadlines for open findings, computed in one SQL statement so
 * that ranking a million findings never leaves the database. Policy values are validated numbers and
 * enum literals from the zod schema, so they are written into the SQL as constants.
 */

export type View = 'all' | 'overdue' | 'due-soon';

export interface ScoreComponents {
  cvss: number;
  cvssFromScanner: boolean;
  vector: string | null;
  kev: boolean;
  ransomware: boolean;
  exploitEvidence: 'poc' | 'active' | null;
  epss: number | null;
  epssPercentile: number | null;
  exposure: 'internet' | 'internal' | 'isolated';
  tier: number;
  points: { cvss: number; threat: number; context: number };
}

export interface PrioritizedFinding {
  findingId: number;
  assetId: string;
  hostname: string;
  cveId: string | null;
  title: string;
  score: number;
  decision: Decision;
  ssvc: {
    exploitation: Exploitation;
    automatable: boolean;
    technicalImpact: 'partial' | 'total';
    missionImpact: MissionImpact;
  };
  sla: { rule: string | null; dueAt: string | null; overdue: boolean; forensicTriage: boolean };
  components: ScoreComponents;
  explanation: string;
}

const num = (n: number) => {
  if (!Number.isFinite(n)) throw new Error(`policy number ${n} is not finite`);
  return String(n);
};
const floatArray = (xs: readonly number[]) => `array[${xs.map(num).join(',')}]::float8[]`;
// A null element means "no deadline": first_seen + null is null.
const intervalArray = (secs: readonly (number | null)[]) =>
  `array[${secs.map((x) => (x === null ? 'null' : `'${num(x)} seconds'`)).join(',')}]::interval[]`;
const textArray = (xs: readonly string[]) => `array[${xs.map((x) => `'${x.replace(/'/g, "''")}'`).join(',')}]::text[]`;
/** The rule named when CISA's KEV due date sets the deadline (it is earlier than the policy's). */
export const KEV_DUE_RULE = 'CISA KEV due date';
const severityRank = { low: 1, medium: 2, high: 3, critical: 4 } as const;

interface SlaPlan {
  /** SQL yielding a 1-based index into names/seconds/forensic, or null when no deadline applies. */
  index: string;
  names: string[];
  seconds: (number | null)[];
  forensic: boolean[];
}

function slaPlan(policy: PrioritizationPolicy): SlaPlan {
  const sla = policy.sla;
  if (sla.kind === 'bod-26-04') {
    const t = sla.timelines;
    const outcomes = ['upgrade', 'standard', 'expedited', 'urgent', 'urgent-forensic'] as const;
    const seconds = {
      upgrade: t.upgrade,
      standard: t.standard,
      expedited: t.expedited,
      urgent: t.urgent,
      'urgent-forensic': t.urgent,
    };
    const indexByKey = bodTimelineTable.map((o) => outcomes.indexOf(o) + 1);
    return {
      index: `(array[${indexByKey.join(',')}])[(kev::int * 8 + (exposure = 'internet')::int * 4 + automatable::int * 2 + total_impact::int) + 1]`,
      names: outcomes.map((o) => `bod-26-04 ${o}`),
      seconds: outcomes.map((o) => (seconds[o] === null ? null : durationMs(seconds[o]) / 1000)),
      forensic: outcomes.map((o) => o === 'urgent-forensic'),
    };
  }
  const whens = sla.rules.map((r, i) => {
    const c: string[] = [];
    if (r.when.kev !== undefined) c.push(r.when.kev ? 'kev' : 'not kev');
    if (r.when.minSeverity) c.push(`severity_rank >= ${severityRank[r.when.minSeverity]}`);
    if (r.when.exposure) c.push(`exposure in (${r.when.exposure.map((e) => `'${e}'`).join(',')})`);
    if (r.when.maxTier !== undefined) c.push(`tier <= ${num(r.when.maxTier)}`);
    if (r.when.decisions)
      c.push(`decision in (${r.when.decisions.map((x) => `'${x.replace(/'/g, "''")}'`).join(',')})`);
    if (r.when.minEpss !== undefined) c.push(`coalesce(epss, 0) >= ${num(r.when.minEpss)}`);
    return `when ${c.length ? c.join(' and ') : 'true'} then ${i + 1}`;
  });
  return {
    index: `case ${whens.join(' ')} end`,
    names: sla.rules.map((r) => r.name),
    seconds: sla.rules.map((r) => durationMs(r.within) / 1000),
    forensic: sla.rules.map((r) => r.forensicTriage),
  };
}

/**
 * Every open finding with its score, SSVC decision and deadline (`due_at`, null when the policy sets
 * none), as SQL text; `onlyFindings` adds one binding, an array of finding ids to restrict it to.
 */
export function scoredFindingsSql(policy: PrioritizationPolicy, opts: { onlyFindings?: boolean } = {}): string {
  const w = policy.weights;
  const s = policy.ssvc;
  const sla = slaPlan(policy);
  const missionByTier = s.missionImpactByTier.map((m) => missionLevels.indexOf(m as MissionImpact));
  // All arithmetic is float8 (cves.score_* columns): numeric math and casts cost seconds at 1M findings.
  return `
with cve_facts as (
  select c.id, c.kev, c.kev_date_added, c.kev_due_date, c.kev_ransomware as ransomware, c.exploit_evidence, c.score_epss as epss, c.score_epss_percentile as epss_percentile,
         coalesce(c.cvss_v4_vector, c.cvss_v3_vector) as vector,
         c.score_cvss as cvss_stated,
         case when c.kev or c.exploit_evidence = 'active' then 2
              when c.exploit_evidence = 'poc' or coalesce(c.score_epss, 0) >= ${num(s.highEpss)} then 1 else 0 end as exploitation,
         coalesce(c.automatable, false) as automatable,
         coalesce(c.total_impact, false) as total_impact,
         least(${num(w.kev + w.ransomware)}::float8, greatest(
           case when c.kev then ${num(w.kev)} + case when c.kev_ransomware then ${num(w.ransomware)} else 0 end else 0 end,
           case c.exploit_evidence when 'active' then ${num(w.activeExploitation)} when 'poc' then ${num(w.poc)} else 0 end,
           ${num(w.epss)} * coalesce(c.score_epss, 0) + ${num(w.epssPercentile)} * coalesce(c.score_epss_percentile, 0))) as threat_points
  from cves c
), asset_facts as (
  select a.id, a.hostname, a.exposure, a.criticality as tier,
         case a.exposure when 'internet' then ${num(w.exposure.internet)} when 'internal' then ${num(w.exposure.internal)} else ${num(w.exposure.isolated)} end
           + (${floatArray(w.tier)})[a.criticality] as context_points,
         least(2, greatest(0, (array[${missionByTier.join(',')}])[a.criticality]
           + case a.exposure when 'internet' then ${s.internetRaisesImpact ? 1 : 0} when 'isolated' then ${s.isolatedLowersImpact ? -1 : 0} else 0 end)) as mission
  from assets a
), base as (
  select f.id as finding_id, f.asset_id, af.hostname, nullif(f.cve_id, '') as cve_id, f.title, f.first_seen,
         -- The policy's clock starts when the finding was first seen or, for a KEV, when CISA listed it, whichever is later.
         greatest(f.first_seen, (cf.kev_date_added::timestamp at time zone 'UTC')) as clock_start,
         -- CISA's due date is met by the end of that day (UTC).
         case when coalesce(cf.kev, false) then ((cf.kev_due_date + 1)::timestamp at time zone 'UTC') end as kev_due_at,
         af.exposure, af.tier, af.context_points, af.mission,
         coalesce(cf.kev, false) as kev, coalesce(cf.ransomware, false) as ransomware, cf.exploit_evidence, cf.epss, cf.epss_percentile, cf.vector,
         cf.cvss_stated is null as cvss_from_scanner,
         coalesce(cf.cvss_stated, (${floatArray(policy.severityScores)})[f.severity + 1]) as cvss,
         coalesce(cf.exploitation, 0) as exploitation,
         coalesce(cf.automatable, false) as automatable,
         coalesce(cf.total_impact, false) as total_impact,
         coalesce(cf.threat_points, 0) as threat_points
  from findings f
  join asset_facts af on af.id = f.asset_id
  left join cve_facts cf on cf.id = f.cve_id
  where f.status = 'open'${opts.onlyFindings ? ' and f.id = any(cast(? as bigint[]))' : ''}
), pointed as (
  select b.*,
    case when cvss >= 9 then 4 when cvss >= 7 then 3 when cvss >= 4 then 2 when cvss > 0 then 1 else 0 end as severity_rank,
    ${num(w.cvss)} * cvss / 10 as cvss_points,
    (${textArray(cisaDecisionTable)})[exploitation * 12 + automatable::int * 6 + total_impact::int * 3 + mission + 1] as decision
  from base b
), ruled as (
  select p.*, round(least(100, cvss_points + threat_points + context_points) * 10) / 10 as score, ${sla.index} as sla_index
  from pointed p
)
select r.*,
  least(r.clock_start + (${intervalArray(sla.seconds)})[r.sla_index], r.kev_due_at) as due_at,
  r.kev_due_at is not null and (r.sla_index is null or r.kev_due_at < r.clock_start + (${intervalArray(sla.seconds)})[r.sla_index]) as kev_due_wins
from ruled r`;
}

interface Row {
  finding_id: number;
  asset_id: string;
  hostname: string;
  cve_id: string | null;
  title: string;
  exposure: 'internet' | 'internal' | 'isolated';
  tier: number;
  kev: boolean;
  ransomware: boolean;
  exploit_evidence: 'poc' | 'active' | null;
  epss: number | null;
  epss_percentile: number | null;
  vector: string | null;
  cvss_from_scanner: boolean;
  cvss: number;
  exploitation: number;
  automatable: boolean;
  total_impact: boolean;
  mission: number;
  cvss_points: number;
  threat_points: number;
  context_points: number;
  decision: Decision;
  score: number;
  sla_index: number | null;
  due_at: Date | null;
  /** CISA's KEV due date comes before the policy's deadline, so it is the deadline. */
  kev_due_wins: boolean;
}

/** The view's filter and order over `scored`; `params.now` is the one bound value (plus the limit). */
function viewClauses(policy: PrioritizationPolicy, view: View): { where: string; order: string } {
  const dueSoonSecs = durationMs(policy.dueSoon) / 1000;
  const now = '(select now from params)';
  const where = {
    all: 'true',
    overdue: `due_at < ${now}`,
    'due-soon': `due_at >= ${now} and due_at < ${now} + make_interval(secs => ${num(dueSoonSecs)})`,
  }[view];
  // Equal scores: the longer-known finding first (it is closer to its deadline under the same rule).
  return { where, order: view === 'all' ? 'score desc, first_seen, finding_id' : 'due_at asc, score desc, finding_id' };
}

export interface PrioritizeOptions {
  view: View;
  limit: number;
  now?: Date;
}

export async function prioritizeFindings(
  db: Knex,
  policy: PrioritizationPolicy,
  opts: PrioritizeOptions,
): Promise<PrioritizedFinding[]> {
  const now = opts.now ?? new Date();
  const { where, order } = viewClauses(policy, opts.view);
  // Rank on the few columns the view needs, then compute full rows for the page only: Postgres
  // drops the unused outputs of the ranking query, which is most of the per-finding work at 1M rows.
  const ranked = (await db.raw(
    `with params as (select cast(? as timestamptz) as now)
     select x.finding_id from (${scoredFindingsSql(policy)}) x where ${where} order by ${order} limit ?`,
    [now.toISOString(), opts.limit],
  )) as { rows: { finding_id: number }[] };
  const sql = `select s.* from (${scoredFindingsSql(policy, { onlyFindings: true })}) s order by ${order}`;
  const result = (await db.raw(sql, [ranked.rows.map((r) => r.finding_id)])) as { rows: Row[] };
  const sla = slaPlan(policy);
  return result.rows.map((r) => toFinding(r, sla, now));
}

function toFinding(r: Row, sla: SlaPlan, now: Date): PrioritizedFinding {
  const exploitation = (['none', 'poc', 'active'] as const)[r.exploitation] ?? 'none';
  const dueAt = r.due_at === null ? null : new Date(r.due_at);
  const finding: Omit<PrioritizedFinding, 'explanation'> = {
    findingId: r.finding_id,
    assetId: r.asset_id,
    hostname: r.hostname,
    cveId: r.cve_id,
    title: r.title,
    score: Number(r.score),
    decision: r.decision,
    ssvc: {
      exploitation,
      automatable: r.automatable,
      technicalImpact: r.total_impact ? 'total' : 'partial',
      missionImpact: missionLevels[r.mission] ?? 'low',
    },
    sla: {
      rule: r.kev_due_wins ? KEV_DUE_RULE : r.sla_index === null ? null : (sla.names[r.sla_index - 1] ?? null),
      dueAt: dueAt?.toISOString() ?? null,
      overdue: dueAt !== null && dueAt < now,
      forensicTriage: r.sla_index !== null && (sla.forensic[r.sla_index - 1] ?? false),
    },
    components: {
      cvss: Number(r.cvss),
      cvssFromScanner: r.cvss_from_scanner,
      vector: r.vector,
      kev: r.kev,
      ransomware: r.ransomware,
      exploitEvidence: r.exploit_evidence,
      epss: r.epss,
      epssPercentile: r.epss_percentile,
      exposure: r.exposure,
      tier: r.tier,
      points: { cvss: round1(r.cvss_points), threat: round1(r.threat_points), context: round1(r.context_points) },
    },
  };
  return { ...finding, explanation: explainFinding(finding, now) };
}

const round1 = (n: number) => Math.round(Number(n) * 10) / 10;

export interface PrioritizedAssetPatch {
  assetId: string;
  hostname: string;
  patchId: string;
  patchTitle: string;
  /** The highest score among the open findings this patch fixes on this asset. */
  score: number;
  findings: number;
  dueAt: string | null;
  worst: PrioritizedFinding;
  explanation: string;
}

/**
 * Whether patch `p` applies to the asset whose columns `c` carries (asset_product, asset_build_key,
 * asset_platform, asset_hotpatch, asset_id), as SQL. A patch that lists its products (MSRC, CSAF)
 * applies where the asset's product is one of them and the asset is below the fixed build or has
 * the package installed below the fixed version; a hotpatch only where the asset is enrolled. A
 * patch known only by name (WSUS, a baseline typed in) applies by platform.
 */
const appliesSql = (p: string, c: string) => `(
  (not ${p}.hotpatch or ${c}.asset_hotpatch) and case
  when exists (select 1 from patch_products pp where pp.patch_id = ${p}.id) then ${c}.asset_product is not null and exists (
    select 1 from patch_products pp where pp.patch_id = ${p}.id and pp.product = ${c}.asset_product and (
      (pp.package = '' and (${c}.asset_build_key is null or pp.fixed_key is null or ${c}.asset_build_key < pp.fixed_key collate "C"))
      or (pp.package <> '' and exists (
        select 1 from asset_packages ap where ap.asset_id = ${c}.asset_id and ap.name = pp.package
          and (pp.arch = '' or ap.arch in ('', 'noarch', pp.arch))
          and (pp.fixed_key is null or ap.version_key < pp.fixed_key collate "C")))))
  else ${p}.platform is null or ${c}.asset_platform is null or lower(${p}.platform) = lower(${c}.asset_platform) end)`;

/**
 * Asset × patch: which patch to install where first, scored by the worst open finding it fixes.
 * A finding is fixed by the patches linked to its CVE that apply to its asset (`appliesSql`), or
 * by the KBs the scanner itself named for it (Nessus `mskb`); a patch is replaced by the newest
 * applicable patch that supersedes it (cumulative updates fix what the ones they replace fixed);
 * a hotpatch-enrolled asset takes the hotpatch where one fixes the finding.
 */
export async function prioritizeAssetPatches(
  db: Knex,
  policy: PrioritizationPolicy,
  opts: PrioritizeOptions,
): Promise<PrioritizedAssetPatch[]> {
  const now = opts.now ?? new Date();
  const { where } = viewClauses(policy, opts.view);
  const sql = `
  with recursive params as (select cast(? as timestamptz) as now), scored as (${scoredFindingsSql(policy)}),
  supersession(old_id, new_id) as (
    select unnest(p.supersedes), p.id from patches p where cardinality(p.supersedes) > 0
    union
    select ss.old_id, p.id from supersession ss join patches p on ss.new_id = any(p.supersedes)
  ),
  in_view as (
    select s.*, a.product as asset_product, a.os_build_key as asset_build_key, a.platform as asset_platform,
      a.hotpatch as asset_hotpatch, s.asset_id as asset_ref, f.evidence->>'mskb' as scanner_kbs
    from scored s join assets a on a.id = s.asset_id join findings f on f.id = s.finding_id
    where ${where}
  ),
  links as (
    select c.finding_id, pc.patch_id, false as from_scanner from in_view c join patch_cves pc on pc.cve_id = c.cve_id
    union all
    select c.finding_id, kb, true from in_view c cross join unnest(string_to_array(c.scanner_kbs, ' ')) kb
    where c.scanner_kbs is not null
  ),
  candidates as (
    select distinct on (c.finding_id, p.id) c.*, p.id as candidate_id, p.hotpatch as candidate_hotpatch
    from in_view c
    join links l on l.finding_id = c.finding_id
    join patches p on p.id = l.patch_id
    where l.from_scanner or ${appliesSql('p', 'c')}
  ),
  preferred as (
    select c.*, bool_or(c.candidate_hotpatch) over (partition by c.finding_id) as hotpatch_offered from candidates c
  ),
  chosen as (
    select c.*, coalesce((
      select n.id from supersession ss join patches n on n.id = ss.new_id
      where ss.old_id = c.candidate_id and ${appliesSql('n', 'c')}
      order by n.released_at desc nulls last, n.id desc limit 1), c.candidate_id) as patch_id
    from preferred c
    where not (c.asset_hotpatch and c.hotpatch_offered and not c.candidate_hotpatch)
  ),
  pairs as (select distinct on (finding_id, patch_id) * from chosen),
  fixes as (
    select s.*, p.title as patch_title,
      count(*) over (partition by s.asset_id, s.patch_id) as fixes_findings,
      min(s.due_at) over (partition by s.asset_id, s.patch_id) as earliest_due,
      row_number() over (partition by s.asset_id, s.patch_id order by s.score desc, s.due_at asc nulls last, s.finding_id) as rank_in_pair
    from pairs s
    join patches p on p.id = s.patch_id
  )
  select * from fixes where rank_in_pair = 1 order by score desc, earliest_due asc nulls last, hostname, patch_id limit ?`;
  const result = (await db.raw(sql, [now.toISOString(), opts.limit])) as {
    rows: (Row & { patch_id: string; patch_title: string; fixes_findings: number; earliest_due: Date | null })[];
  };
  const sla = slaPlan(policy);
  return result.rows.map((r) => {
    const worst = toFinding(r, sla, now);
    const others = Number(r.fixes_findings) - 1;
    return {
      assetId: r.asset_id,
      hostname: r.hostname,
      patchId: r.patch_id,
      patchTitle: r.patch_title,
      score: worst.score,
      findings: Number(r.fixes_findings),
      dueAt: r.earliest_due === null ? null : new Date(r.earliest_due).toISOString(),
      worst,
      explanation: `${r.patch_id} on ${r.hostname} fixes ${worst.cveId ?? worst.title}${others > 0 ? ` and ${others} more` : ''}: ${worst.explanation}`,
    };
  });
}

export interface UnmappedAsset {
  assetId: string;
  hostname: string;
  osName: string | null;
  osVersion: string | null;
  /** Open findings on the asset that a patch with known products fixes: none of those can be proposed for it. */
  findings: number;
}

/**
 * Assets whose OS name maps to no product, with open findings that product-specific patches fix:
 * Patchflow proposes none of those patches for them rather than guess. Fix their OS name (an
 * import, an inventory sync or a scan that reports it) and they are in scope again.
 */
export async function unmappedAssets(db: Knex, limit = 1000): Promise<UnmappedAsset[]> {
  const rows = (await db.raw(
    `select a.id, a.hostname, a.os_name, a.os_version, count(distinct f.id)::int as findings
     from assets a join findings f on f.asset_id = a.id and f.status = 'open'
     where a.product is null and exists (
       select 1 from patch_cves pc join patch_products pp on pp.patch_id = pc.patch_id where pc.cve_id = f.cve_id)
     group by a.id order by findings desc, a.hostname limit ?`,
    [limit],
  )) as {
    rows: { id: string; hostname: string; os_name: string | null; os_version: string | null; findings: number }[];
  };
  return rows.rows.map((r) => ({
    assetId: r.id,
    hostname: r.hostname,
    osName: r.os_name,
    osVersion: r.os_version,
    findings: r.findings,
  }));
}
