import type { Knex } from 'knex';
import type { PrioritizationPolicy } from '../../prioritization/policy.ts';
import { scoredFindingsSql } from '../../prioritization/query.ts';

/**
 * What the database holds about one asset's patching: the cycle × patch targets it was part of,
 * the attempts and verifications behind each, and the facts its compliance is read from. Plain
 * rows; app/asset-records.ts decides what they mean.
 */

/** Phases that install a patch; `rollback` attempts undo one. */
export const INSTALL_PHASES = ['testing', 'deployment'] as const;
/** Outcomes that leave the host at the patch's target state (the ones deployments_one_success allows once). */
export const SUCCESS_OUTCOMES = ['patched', 'already_compliant'] as const;

const iso = (d: Date | string) => new Date(d).toISOString();
const isoOrNull = (d: Date | string | null) => (d === null ? null : iso(d));

export interface AssetTargetRow {
  cycleId: string;
  cycleName: string;
  cycleStatus: string;
  patchId: string;
  patchTitle: string;
  ring: string;
  /** The target's status as the rollout left it (pending when nothing was attempted). */
  targetStatus: string;
  /** When the target was last attempted, or its cycle was created when it never was: the history's order. */
  at: string;
}

/** The asset's cycle × patch targets, most recently attempted first; one page of them and how many there are. */
export async function assetTargets(
  db: Knex,
  assetId: string,
  page: { limit: number; offset: number },
): Promise<{ rows: AssetTargetRow[]; total: number }> {
  const [rows, counted] = await Promise.all([
    db.raw(
      `select t.cycle_id, c.name as cycle_name, c.status as cycle_status, t.patch_id, p.title as patch_title,
              t.ring, t.status as target_status, coalesce(last.at, c.created_at) as at
       from cycle_targets t
       join cycles c on c.id = t.cycle_id
       join patches p on p.id = t.patch_id
       left join lateral (
         select max(coalesce(d.finished_at, d.started_at)) as at from deployments d
         where d.cycle_id = t.cycle_id and d.asset_id = t.asset_id and d.patch_id = t.patch_id
       ) last on true
       where t.asset_id = ?
       order by at desc, t.cycle_id desc, t.patch_id
       limit ? offset ?`,
      [assetId, page.limit, page.offset],
    ) as Promise<{
      rows: {
        cycle_id: string;
        cycle_name: string;
        cycle_status: string;
        patch_id: string;
        patch_title: string;
        ring: string;
        target_status: string;
        at: Date;
      }[];
    }>,
    db('cycle_targets').where({ asset_id: assetId }).count<{ n: number }[]>({ n: '*' }),
  ]);
  return {
    rows: rows.rows.map((r) => ({
      cycleId: r.cycle_id,
      cycleName: r.cycle_name,
      cycleStatus: r.cycle_status,
      patchId: r.patch_id,
      patchTitle: r.patch_title,
      ring: r.ring,
      targetStatus: r.target_status,
      at: iso(r.at),
    })),
    total: Number(counted[0]?.n ?? 0),
  };
}

export interface AttemptRow {
  cycleId: string;
  patchId: string;
  phase: string;
  attempt: number;
  outcome: string;
  message: string;
  evidence: Record<string, unknown>;
  startedAt: string;
  finishedAt: string | null;
}

interface DeploymentRow {
  cycle_id: string;
  patch_id: string;
  phase: string;
  attempt: number;
  outcome: string;
  message: string;
  evidence: Record<string, unknown>;
  started_at: Date;
  finished_at: Date | null;
}

const attemptFromRow = (r: DeploymentRow): AttemptRow => ({
  cycleId: r.cycle_id,
  patchId: r.patch_id,
  phase: r.phase,
  attempt: r.attempt,
  outcome: r.outcome,
  message: r.message,
  evidence: r.evidence,
  startedAt: iso(r.started_at),
  finishedAt: isoOrNull(r.finished_at),
});

const attemptColumns = [
  'cycle_id',
  'patch_id',
  'phase',
  'attempt',
  'outcome',
  'message',
  'evidence',
  'started_at',
  'finished_at',
];

/** Every attempt on the asset in these cycles (install and rollback), in the order they were made. */
export async function assetAttempts(db: Knex, assetId: string, cycleIds: string[]): Promise<AttemptRow[]> {
  if (cycleIds.length === 0) return [];
  const rows = (await db('deployments')
    .whereIn('cycle_id', cycleIds)
    .where({ asset_id: assetId })
    .select(attemptColumns)
    .orderBy('id')) as DeploymentRow[];
  return rows.map(attemptFromRow);
}

export interface VerificationRecordRow {
  cycleId: string;
  patchId: string;
  /** 'deployer' also for rows recorded before verification by re-scan, which name no method or result. */
  method: 'scan' | 'deployer';
  result: 'remediated' | 'still_vulnerable' | 'not_scanned' | 'compliant' | 'non_compliant' | null;
  compliant: boolean;
  message: string;
  evidence: Record<string, unknown>;
  checkedAt: string;
}

interface VerificationRow {
  cycle_id: string;
  patch_id: string;
  method: VerificationRecordRow['method'];
  result: VerificationRecordRow['result'];
  compliant: boolean;
  message: string;
  evidence: Record<string, unknown>;
  checked_at: Date;
}

const verificationFromRow = (r: VerificationRow): VerificationRecordRow => ({
  cycleId: r.cycle_id,
  patchId: r.patch_id,
  method: r.method,
  result: r.result,
  compliant: r.compliant,
  message: r.message,
  evidence: r.evidence,
  checkedAt: iso(r.checked_at),
});

const verificationColumns = [
  'cycle_id',
  'patch_id',
  'method',
  'result',
  'compliant',
  'message',
  'evidence',
  'checked_at',
];

/** The asset's verifications in these cycles, oldest first. */
export async function assetVerifications(
  db: Knex,
  assetId: string,
  cycleIds: string[],
): Promise<VerificationRecordRow[]> {
  if (cycleIds.length === 0) return [];
  const rows = (await db('verifications')
    .whereIn('cycle_id', cycleIds)
    .where({ asset_id: assetId })
    .select(verificationColumns)
    .orderBy('id')) as VerificationRow[];
  return rows.map(verificationFromRow);
}

/** Open findings on the asset per severity (0 info … 4 critical). */
export async function openFindingsBySeverity(db: Knex, assetId: string): Promise<Map<number, number>> {
  const rows = (await db('findings')
    .where({ asset_id: assetId, status: 'open' })
    .groupBy('severity')
    .select('severity')
    .count({ n: '*' })) as { severity: number; n: number | string }[];
  return new Map(rows.map((r) => [Number(r.severity), Number(r.n)]));
}

/**
 * How the asset's open findings stand against their SLA deadlines under `policy`: how many are
 * past due at `now`, and the earliest deadline. Scored as the prioritised findings are, but only
 * the asset's own findings (scoredFindingsSql's finding filter), so it costs what the asset has.
 */
export async function slaStanding(
  db: Knex,
  assetId: string,
  policy: PrioritizationPolicy,
  now: Date,
): Promise<{ overdue: number; earliestDueAt: string | null }> {
  const ids = (
    (await db('findings').where({ asset_id: assetId, status: 'open' }).select('id')) as { id: number }[]
  ).map((f) => f.id);
  if (ids.length === 0) return { overdue: 0, earliestDueAt: null };
  const result = (await db.raw(
    `select count(*) filter (where s.due_at < cast(? as timestamptz)) as overdue, min(s.due_at) as earliest_due_at
     from (${scoredFindingsSql(policy, { onlyFindings: true })}) s`,
    [now.toISOString(), ids],
  )) as { rows: { overdue: number | string; earliest_due_at: Date | null }[] };
  const row = result.rows[0];
  return { overdue: Number(row?.overdue ?? 0), earliestDueAt: isoOrNull(row?.earliest_due_at ?? null) };
}

/** The asset's latest install that changed it (outcome patched) and was not rolled back, or null when none did. */
export async function lastPatchedAttempt(db: Knex, assetId: string): Promise<AttemptRow | null> {
  const row = (await db('deployments as d')
    .where({ 'd.asset_id': assetId, 'd.outcome': 'patched' })
    .whereIn('d.phase', INSTALL_PHASES)
    .whereNotExists(
      db('deployments as r')
        .whereRaw('r.idempotency_key = d.idempotency_key')
        .where('r.phase', 'rollback')
        .whereIn('r.outcome', SUCCESS_OUTCOMES),
    )
    .select(attemptColumns.map((c) => `d.${c}`))
    .orderByRaw('coalesce(d.finished_at, d.started_at) desc, d.id desc')
    .first()) as DeploymentRow | undefined;
  return row ? attemptFromRow(row) : null;
}

/** The asset's latest verification of any patch, or null when it was never verified. */
export async function lastVerification(db: Knex, assetId: string): Promise<VerificationRecordRow | null> {
  const row = (await db('verifications')
    .where({ asset_id: assetId })
    .select(verificationColumns)
    .orderBy([
      { column: 'checked_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .first()) as VerificationRow | undefined;
  return row ? verificationFromRow(row) : null;
}

/** A deployer's word about one patch on the asset: a successful install or rollback attempt, or a deployer verification. */
export interface DeployerReport {
  cycleId: string;
  patchId: string;
  at: string;
  message: string;
  evidence: Record<string, unknown>;
}

/**
 * The deployer's latest word per patch on the asset: its latest successful attempt (install or
 * rollback) and its latest deployer verification, for each patch (the caller picks the later).
 */
export async function latestDeployerReports(db: Knex, assetId: string): Promise<DeployerReport[]> {
  const [installs, verified] = await Promise.all([
    db.raw(
      `select distinct on (patch_id) cycle_id, patch_id, coalesce(finished_at, started_at) as at, message, evidence
       from deployments
       where asset_id = ? and outcome = any(cast(? as text[]))
       order by patch_id, coalesce(finished_at, started_at) desc, id desc`,
      [assetId, [...SUCCESS_OUTCOMES]],
    ) as Promise<{ rows: ReportRow[] }>,
    db.raw(
      `select distinct on (patch_id) cycle_id, patch_id, checked_at as at, message, evidence
       from verifications
       where asset_id = ? and method = 'deployer'
       order by patch_id, checked_at desc, id desc`,
      [assetId],
    ) as Promise<{ rows: ReportRow[] }>,
  ]);
  return [...installs.rows, ...verified.rows].map((r) => ({
    cycleId: r.cycle_id,
    patchId: r.patch_id,
    at: iso(r.at),
    message: r.message,
    evidence: r.evidence,
  }));
}

interface ReportRow {
  cycle_id: string;
  patch_id: string;
  at: Date;
  message: string;
  evidence: Record<string, unknown>;
}
