import type { Knex } from 'knex';
import { stagingChecks } from './staging-checks.ts';
import type { HostOutcome, HostResult } from '../../integrations/contract/index.ts';
import { ConflictError, InputError, isUniqueViolation, NotFoundError } from '../../kernel/errors.ts';
import type { PolicyNotes } from '../../workflows/approval-types.ts';
import { placeAsset } from '../../workflows/rings.ts';
import type {
  CyclePhase,
  CyclePolicy,
  CycleScope,
  CycleStatus,
  RingOutcome,
  StagingCheckResult,
} from '../../workflows/types.ts';

/** Staging is tested before any ring; the rings themselves come from the cycle's deployment policy. */
export const STAGING_RING = 'staging';
export const STAGING_PATCH_GROUP = 'staging';

export interface CycleRequest {
  name: string;
  requester: string;
  patchIds: string[];
  /** Hostnames in scope; empty means every asset. */
  hostnames: string[];
  /** Exact asset × patch pairs when the scope came from findings; otherwise every patch goes to every host. */
  targets?: { hostname: string; patchId: string; dueAt: string | null }[];
  /** The effective policy as approvers read it; unset on cycles requested before it was recorded. */
  policyNotes?: PolicyNotes;
}

export interface CycleRow {
  id: string;
  name: string;
  status: CycleStatus;
  phase: CyclePhase;
  requester: string;
  request: CycleRequest;
  policy: CyclePolicy;
  summary: Record<string, unknown>;
  workflow_id: string;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

export function idempotencyKey(cycleId: string, assetId: string, patchId: string): string {
  return `${cycleId}:${assetId}:${patchId}`;
}

export async function insertCycle(
  db: Knex,
  row: { id: string; request: CycleRequest; policy: CyclePolicy; workflowId: string },
): Promise<void> {
  await db('cycles').insert({
    id: row.id,
    name: row.request.name,
    status: 'running',
    phase: 'scoping',
    requester: row.request.requester,
    request: row.request,
    policy: row.policy,
    workflow_id: row.workflowId,
  });
}

export async function getCycle(db: Knex, id: string): Promise<CycleRow> {
  const row = (await db('cycles').where({ id }).first()) as CycleRow | undefined;
  if (!row) throw new NotFoundError(`no cycle ${id}`);
  return row;
}

export async function listCycles(db: Knex, limit = 50): Promise<CycleRow[]> {
  return (await db('cycles').select('*').orderBy('created_at', 'desc').limit(limit)) as CycleRow[];
}

export async function setCycleState(
  db: Knex,
  id: string,
  state: { phase: CyclePhase; status: CycleStatus; summary?: Record<string, unknown> },
): Promise<void> {
  const done = state.phase === 'done';
  const query = db('cycles').where({ id });
  // A finished cycle stays finished: a late write (a pause or cancel note racing the end) must not reopen it.
  if (!done) query.whereNot({ phase: 'done' });
  await query.update({
    phase: state.phase,
    status: state.status,
    ...(state.summary ? { summary: state.summary } : {}),
    updated_at: db.fn.now(),
    ...(done ? { completed_at: db.fn.now() } : {}),
  });
}

/**
 * Expands the cycle's request into cycle_targets (asset × patch × ring). Idempotent: a retried
 * activity finds the rows already there and returns the same scope.
 */
export async function scopeCycle(db: Knex, cycleId: string): Promise<CycleScope> {
  const cycle = await getCycle(db, cycleId);
  await db.transaction(async (trx) => {
    const assetsQuery = trx('assets').select('id', 'hostname', 'criticality', 'patch_group');
    if (cycle.request.hostnames.length) assetsQuery.whereIn('hostname', cycle.request.hostnames);
    const assets = (await assetsQuery) as {
      id: string;
      hostname: string;
      criticality: number;
      patch_group: string | null;
    }[];
    if (assets.length === 0)
      throw new InputError('the cycle matches no assets', [{ path: ['hostnames'], message: 'no matching assets' }]);
    // Findings-scoped cycles name their pairs; grouped once, since a scope can hold tens of thousands.
    let pairsByHost: Map<string, string[]> | undefined;
    if (cycle.request.targets) {
      pairsByHost = new Map();
      for (const t of cycle.request.targets) {
        const patchIds = pairsByHost.get(t.hostname);
        if (patchIds) patchIds.push(t.patchId);
        else pairsByHost.set(t.hostname, [t.patchId]);
      }
    }
    const rows = assets.flatMap((a) => {
      const placement =
        a.patch_group === STAGING_PATCH_GROUP
          ? { ring: STAGING_RING, order: 0 }
          : placeAsset(cycle.policy.deployment.rings, a.criticality);
      const patchIds = pairsByHost ? (pairsByHost.get(a.hostname) ?? []) : cycle.request.patchIds;
      return patchIds.map((patchId) => ({
        cycle_id: cycleId,
        asset_id: a.id,
        patch_id: patchId,
        ring: placement.ring,
        ring_order: placement.order,
      }));
    });
    await trx('cycle_targets').insert(rows).onConflict(['cycle_id', 'asset_id', 'patch_id']).ignore();
  });
  const counts = (await db('cycle_targets')
    .where({ cycle_id: cycleId })
    .select('ring', 'ring_order')
    .count('* as targets')
    .groupBy('ring', 'ring_order')
    .orderBy('ring_order')) as { ring: string; ring_order: number; targets: number }[];
  return {
    stagingTargets: counts.find((c) => c.ring === STAGING_RING)?.targets ?? 0,
    rings: counts
      .filter((c) => c.ring !== STAGING_RING)
      .map((c) => ({ ring: c.ring, order: c.ring_order, targets: Number(c.targets) })),
  };
}

export interface RingTarget {
  assetId: string;
  hostname: string;
  address: string | undefined;
  platform: string | undefined;
  patchGroup: string | undefined;
  patchId: string;
  patchTitle: string;
  vendorRef: string;
  targetVersion: string | undefined;
  key: string;
}

/** The ring's targets, or only those on `assetIds` when a batch of the ring is being deployed. */
export async function ringTargets(db: Knex, cycleId: string, ring: string, assetIds?: string[]): Promise<RingTarget[]> {
  const query = db('cycle_targets as t')
    .join('assets as a', 'a.id', 't.asset_id')
    .join('patches as p', 'p.id', 't.patch_id')
    .where({ 't.cycle_id': cycleId, 't.ring': ring });
  if (assetIds) query.whereIn('t.asset_id', assetIds);
  const rows = (await query
    .select(
      't.asset_id',
      'a.hostname',
      'a.ips',
      'a.platform',
      'a.patch_group',
      't.patch_id',
      'p.title',
      'p.vendor_ref',
      'p.target_version',
    )
    .orderBy('a.hostname')) as {
    asset_id: string;
    hostname: string;
    ips: string[];
    platform: string | null;
    patch_group: string | null;
    patch_id: string;
    title: string;
    vendor_ref: string;
    target_version: string | null;
  }[];
  return rows.map((r) => ({
    assetId: r.asset_id,
    hostname: r.hostname,
    address: r.ips[0],
    platform: r.platform ?? undefined,
    patchGroup: r.patch_group ?? undefined,
    patchId: r.patch_id,
    patchTitle: r.title,
    vendorRef: r.vendor_ref,
    targetVersion: r.target_version ?? undefined,
    key: idempotencyKey(cycleId, r.asset_id, r.patch_id),
  }));
}

/** Keys that already have a successful install recorded: a retry must not touch those hosts again. */
export async function succeededKeys(db: Knex, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = (await db('deployments')
    .whereIn('idempotency_key', keys)
    .whereIn('outcome', ['patched', 'already_compliant'])
    .whereIn('phase', ['testing', 'deployment'])
    .select('idempotency_key')) as { idempotency_key: string }[];
  return new Set(rows.map((r) => r.idempotency_key));
}

/** An earlier attempt still heard from on some of a batch's hosts. */
export interface LiveAttempt {
  attempt: number;
  hostnames: string[];
  /** Seconds since that attempt last said it was alive. */
  silentFor: number;
}

/**
 * Earlier attempts still `running` on these keys that were heard from within `leaseMs`: a worker
 * Temporal gave up on may still be installing there, so the current attempt must not start too.
 */
export async function liveEarlierAttempts(
  db: Knex,
  keys: string[],
  phase: string,
  currentAttempt: number,
  leaseMs: number,
): Promise<LiveAttempt | null> {
  if (keys.length === 0) return null;
  const rows = (await db('deployments as d')
    .join('assets as a', 'a.id', 'd.asset_id')
    .whereIn('d.idempotency_key', keys)
    .where({ 'd.phase': phase, 'd.outcome': 'running' })
    .where('d.attempt', '<', currentAttempt)
    .whereRaw(`d.heartbeat_at > now() - make_interval(secs => ?)`, [leaseMs / 1000])
    .select('d.attempt', 'a.hostname')
    .select(db.raw('extract(epoch from now() - d.heartbeat_at)::float8 as silent_for'))) as {
    attempt: number;
    hostname: string;
    silent_for: number;
  }[];
  const first = rows[0];
  if (!first) return null;
  return {
    attempt: first.attempt,
    hostnames: [...new Set(rows.map((r) => r.hostname))],
    silentFor: Math.round(Math.min(...rows.map((r) => r.silent_for))),
  };
}

/** Says the current attempt's running rows are alive. */
export async function touchAttempts(db: Knex, attemptIds: number[]): Promise<void> {
  if (attemptIds.length === 0) return;
  await db('deployments').whereIn('id', attemptIds).where({ outcome: 'running' }).update({ heartbeat_at: db.fn.now() });
}

/**
 * Attempts left `running` by an earlier activity attempt whose worker died: recorded as
 * interrupted so that the history shows what happened, then retried by the current attempt.
 * Returns the keys whose outcome an earlier attempt lost, this way or by failing (abandonAttempts):
 * their hosts may be patched already.
 */
export async function markInterrupted(
  db: Knex,
  keys: string[],
  phase: string,
  currentAttempt: number,
): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = (await db('deployments')
    .whereIn('idempotency_key', keys)
    .where({ phase, outcome: 'running' })
    .where('attempt', '<', currentAttempt)
    .update({
      outcome: 'interrupted',
      message: 'the worker running this attempt was lost; the host was handed to the next attempt',
      finished_at: db.fn.now(),
    })
    .returning('idempotency_key')) as { idempotency_key: string }[];
  const interrupted = (await db('deployments')
    .whereIn('idempotency_key', keys)
    .where({ phase, outcome: 'interrupted' })
    .where('attempt', '<', currentAttempt)
    .distinct('idempotency_key')) as { idempotency_key: string }[];
  return new Set([...rows, ...interrupted].map((r) => r.idempotency_key));
}

/** An attempt that failed before its deployer reported: its hosts' outcome is unknown, for the next attempt to settle. */
export async function abandonAttempts(db: Knex, attemptIds: number[], reason: string): Promise<void> {
  if (attemptIds.length === 0) return;
  await db('deployments')
    .whereIn('id', attemptIds)
    .where({ outcome: 'running' })
    .update({
      outcome: 'interrupted',
      message: `this attempt failed before the deployer reported (${reason.slice(0, 500)}); the next attempt checks the host first`,
      finished_at: db.fn.now(),
    });
}

export async function startAttempts(
  db: Knex,
  cycleId: string,
  targets: RingTarget[],
  phase: string,
  attempt: number,
): Promise<Map<string, number>> {
  if (targets.length === 0) return new Map();
  const rows = (await db('deployments')
    .insert(
      targets.map((t) => ({
        cycle_id: cycleId,
        asset_id: t.assetId,
        patch_id: t.patchId,
        idempotency_key: t.key,
        phase,
        attempt,
        outcome: 'running',
      })),
    )
    .returning(['id', 'idempotency_key'])) as { id: number; idempotency_key: string }[];
  return new Map(rows.map((r) => [r.idempotency_key, r.id]));
}

/**
 * Records one host's result on its attempt row. If a success for the same key was recorded
 * meanwhile (a retry racing an earlier attempt), the partial unique index refuses a second
 * success and this attempt is recorded as a duplicate instead.
 */
export async function finishAttempt(
  db: Knex,
  attemptId: number,
  result: HostResult,
): Promise<HostOutcome | 'duplicate'> {
  try {
    await db('deployments')
      .where({ id: attemptId })
      .update({
        outcome: result.outcome,
        message: result.message,
        evidence: result.evidence ?? {},
        finished_at: db.fn.now(),
      });
    return result.outcome;
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    await db('deployments').where({ id: attemptId }).update({
      outcome: 'skipped',
      message: 'a success was already recorded for this host and patch',
      finished_at: db.fn.now(),
    });
    return 'duplicate';
  }
}

export async function setTargetStatus(
  db: Knex,
  cycleId: string,
  assetId: string,
  patchId: string,
  status: string,
): Promise<void> {
  await db('cycle_targets').where({ cycle_id: cycleId, asset_id: assetId, patch_id: patchId }).update({ status });
}

/** The ring's outcome from the recorded latest attempt per target, so a retried activity reports the same totals. */
export async function ringOutcome(
  db: Knex,
  cycleId: string,
  ring: string,
  phase: RingOutcome['phase'],
  assetIds?: string[],
): Promise<RingOutcome> {
  const query = db('cycle_targets')
    .where({ cycle_id: cycleId, ring })
    .select('status')
    .count('* as n')
    .groupBy('status');
  if (assetIds) query.whereIn('asset_id', assetIds);
  return tallyRing(ring, phase, (await query) as StatusCount[]);
}

/** Every ring's outcome, staging as tested and the others as deployed, in rollout order: one query for all of them. */
export async function ringOutcomes(db: Knex, cycleId: string): Promise<(RingOutcome & { order: number })[]> {
  const rows = (await db('cycle_targets')
    .where({ cycle_id: cycleId })
    .select('ring', 'ring_order', 'status')
    .count('* as n')
    .groupBy('ring', 'ring_order', 'status')
    .orderBy(['ring_order', 'ring'])) as (StatusCount & { ring: string; ring_order: number })[];
  const rings = new Map<string, { ring: string; order: number; counts: StatusCount[] }>();
  for (const r of rows) {
    const key = `${r.ring_order}\u0000${r.ring}`;
    const tally = rings.get(key) ?? { ring: r.ring, order: r.ring_order, counts: [] };
    tally.counts.push(r);
    rings.set(key, tally);
  }
  return [...rings.values()].map((r) => ({
    ...tallyRing(r.ring, r.ring === STAGING_RING ? 'testing' : 'deployment', r.counts),
    order: r.order,
  }));
}

type StatusCount = { status: string; n: string | number };

function tallyRing(ring: string, phase: RingOutcome['phase'], rows: StatusCount[]): RingOutcome {
  const count = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
  return {
    ring,
    phase,
    total: rows.reduce((n, r) => n + Number(r.n), 0),
    patched: count('patched'),
    alreadyCompliant: count('already_compliant'),
    failed: count('failed'),
    unreachable: count('unreachable'),
    skipped: count('skipped'),
    rolledBack: count('rolled_back'),
  };
}

/** The ring's assets by hostname, so that batches are the same on every retry and read as the plan shows them. */
export async function ringAssetIds(db: Knex, cycleId: string, ring: string): Promise<string[]> {
  const rows = (await db('cycle_targets as t')
    .join('assets as a', 'a.id', 't.asset_id')
    .where({ 't.cycle_id': cycleId, 't.ring': ring })
    .groupBy('t.asset_id', 'a.hostname')
    .orderBy('a.hostname')
    .select('t.asset_id')) as { asset_id: string }[];
  return rows.map((r) => r.asset_id);
}

/**
 * Records many hosts' results at once. When a success for one of the keys was recorded meanwhile,
 * the statement is refused as a whole and each row is recorded on its own, the duplicate as such.
 */
export async function finishAttempts(
  db: Knex,
  rows: { attemptId: number; result: HostResult }[],
): Promise<(HostOutcome | 'duplicate')[]> {
  if (rows.length === 0) return [];
  try {
    await db.raw(
      `update deployments d set outcome = v.outcome, message = v.message, evidence = v.evidence::jsonb, finished_at = now()
       from unnest(?::bigint[], ?::text[], ?::text[], ?::text[]) as v(id, outcome, message, evidence) where d.id = v.id`,
      [
        rows.map((r) => r.attemptId),
        rows.map((r) => r.result.outcome),
        rows.map((r) => r.result.message),
        rows.map((r) => JSON.stringify(r.result.evidence ?? {})),
      ],
    );
    return rows.map((r) => r.result.outcome);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const outcomes: (HostOutcome | 'duplicate')[] = [];
    for (const r of rows) outcomes.push(await finishAttempt(db, r.attemptId, r.result));
    return outcomes;
  }
}

export async function setTargetStatuses(
  db: Knex,
  cycleId: string,
  rows: { assetId: string; patchId: string; status: string }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db.raw(
    `update cycle_targets t set status = v.status from unnest(?::uuid[], ?::text[], ?::text[]) as v(asset_id, patch_id, status)
     where t.cycle_id = ? and t.asset_id = v.asset_id and t.patch_id = v.patch_id`,
    [rows.map((r) => r.assetId), rows.map((r) => r.patchId), rows.map((r) => r.status), cycleId],
  );
}

export interface VerificationRow {
  assetId: string;
  patchId: string;
  compliant: boolean;
  message: string;
  method: 'scan' | 'deployer';
  result: 'remediated' | 'still_vulnerable' | 'not_scanned' | 'compliant' | 'non_compliant';
  evidence: Record<string, unknown>;
}

/** The cycle's verification, replacing an earlier attempt's: one row per cycle × asset × patch. */
export async function recordVerification(db: Knex, cycleId: string, rows: VerificationRow[]): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('verifications').where({ cycle_id: cycleId }).delete();
    for (let i = 0; i < rows.length; i += 1000)
      await trx('verifications').insert(
        rows.slice(i, i + 1000).map((r) => ({
          cycle_id: cycleId,
          asset_id: r.assetId,
          patch_id: r.patchId,
          compliant: r.compliant,
          message: r.message,
          method: r.method,
          result: r.result,
          evidence: r.evidence,
        })),
      );
  });
}

/** Records one person's decision; false when it was already recorded (a retried attempt), and the first record stands. */
export async function recordApproval(
  db: Knex,
  row: { cycleId: string; decision: 'approve' | 'reject'; by: string; reason?: string | undefined; channel: string },
): Promise<boolean> {
  try {
    await db('approvals').insert({
      cycle_id: row.cycleId,
      decision: row.decision,
      decided_by: row.by,
      reason: row.reason ?? null,
      channel: row.channel,
    });
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

export async function requireCycleInPhase(db: Knex, id: string, phase: CyclePhase): Promise<CycleRow> {
  const cycle = await getCycle(db, id);
  if (cycle.phase !== phase)
    throw new ConflictError(`cycle ${id} is in phase "${cycle.phase}" (${cycle.status}), not awaiting approval`);
  return cycle;
}

export interface CycleDetail {
  cycle: {
    id: string;
    name: string;
    status: CycleStatus;
    phase: CyclePhase;
    requester: string;
    createdAt: string;
    completedAt: string | null;
    summary: Record<string, unknown>;
    policy: CyclePolicy;
    policyNotes: PolicyNotes | null;
  };
  approvals: { decision: string; by: string; reason: string | null; channel: string; at: string }[];
  /** What each staging check saw on each staging host (empty without checks in the policy). */
  stagingChecks: StagingCheckResult[];
  rings: {
    ring: string;
    order: number;
    hosts: {
      hostname: string;
      patchId: string;
      status: string;
      attempts: number;
      message: string;
      verified: boolean | null;
    }[];
  }[];
}

export async function cycleDetail(db: Knex, id: string): Promise<CycleDetail> {
  const c = await getCycle(db, id);
  const approvals = (await db('approvals').where({ cycle_id: id }).orderBy('decided_at')) as {
    decision: string;
    decided_by: string;
    reason: string | null;
    channel: string;
    decided_at: Date;
  }[];
  const targets = (await db('cycle_targets as t')
    .join('assets as a', 'a.id', 't.asset_id')
    .where({ 't.cycle_id': id })
    .select('t.ring', 't.ring_order', 't.status', 't.patch_id', 't.asset_id', 'a.hostname')
    .orderBy(['t.ring_order', 'a.hostname'])) as {
    ring: string;
    ring_order: number;
    status: string;
    patch_id: string;
    asset_id: string;
    hostname: string;
  }[];
  const attempts = (await db('deployments').where({ cycle_id: id }).orderBy('id')) as {
    asset_id: string;
    patch_id: string;
    message: string;
    outcome: string;
  }[];
  const verifications = (await db('verifications').where({ cycle_id: id }).orderBy('id')) as {
    asset_id: string;
    patch_id: string;
    compliant: boolean;
  }[];
  const rings = new Map<string, CycleDetail['rings'][number]>();
  for (const t of targets) {
    const ring = rings.get(t.ring) ?? { ring: t.ring, order: t.ring_order, hosts: [] };
    rings.set(t.ring, ring);
    const mine = attempts.filter((a) => a.asset_id === t.asset_id && a.patch_id === t.patch_id);
    const verified = verifications.filter((v) => v.asset_id === t.asset_id && v.patch_id === t.patch_id).at(-1);
    ring.hosts.push({
      hostname: t.hostname,
      patchId: t.patch_id,
      status: t.status,
      attempts: mine.length,
      message: mine.at(-1)?.message ?? '',
      verified: verified ? verified.compliant : null,
    });
  }
  return {
    cycle: {
      id: c.id,
      name: c.name,
      status: c.status,
      phase: c.phase,
      requester: c.requester,
      createdAt: new Date(c.created_at).toISOString(),
      completedAt: c.completed_at ? new Date(c.completed_at).toISOString() : null,
      summary: c.summary,
      policy: c.policy,
      policyNotes: c.request.policyNotes ?? null,
    },
    approvals: approvals.map((a) => ({
      decision: a.decision,
      by: a.decided_by,
      reason: a.reason,
      channel: a.channel,
      at: new Date(a.decided_at).toISOString(),
    })),
    rings: [...rings.values()],
    stagingChecks: await stagingChecks(db, id),
  };
}

/** The running cycle that holds some of a cycle's host × patch pairs, and which. */
export interface HostHolder {
  cycleId: string;
  phase: string;
  status: string;
  /** A few of the hostnames held, for the message. */
  hostnames: string[];
  pairs: number;
}

/**
 * Claims the cycle's host × patch pairs for its deployment, unless another cycle that is not
 * done holds one of them: then that cycle is returned and nothing is claimed. A cycle that is
 * done holds nothing, so a claim never outlives its cycle. Claims are serialised by a lock, so
 * two cycles cannot both pass the check.
 */
export async function claimCycleHosts(db: Knex, cycleId: string): Promise<HostHolder | null> {
  return db.transaction(async (trx) => {
    await trx.raw(`select pg_advisory_xact_lock(hashtext('patchflow:host-claims'))`);
    const held = (await trx('cycle_targets as mine')
      .join('cycle_targets as theirs', function () {
        this.on('theirs.asset_id', 'mine.asset_id').andOn('theirs.patch_id', 'mine.patch_id');
      })
      .join('cycles as c', 'c.id', 'theirs.cycle_id')
      .join('assets as a', 'a.id', 'mine.asset_id')
      .where('mine.cycle_id', cycleId)
      .whereNot('theirs.cycle_id', cycleId)
      .whereNot('c.phase', 'done')
      .whereNotNull('c.holds_hosts_since')
      .groupBy('c.id', 'c.phase', 'c.status', 'c.holds_hosts_since')
      .orderBy('c.holds_hosts_since')
      .select('c.id', 'c.phase', 'c.status')
      .select(trx.raw('count(*)::int as pairs'))
      .select(trx.raw('(array_agg(distinct a.hostname order by a.hostname))[1:5] as hostnames'))) as {
      id: string;
      phase: string;
      status: string;
      pairs: number;
      hostnames: string[];
    }[];
    const holder = held[0];
    if (holder)
      return {
        cycleId: holder.id,
        phase: holder.phase,
        status: holder.status,
        hostnames: holder.hostnames,
        pairs: holder.pairs,
      };
    await trx('cycles')
      .where({ id: cycleId })
      .whereNull('holds_hosts_since')
      .update({ holds_hosts_since: trx.fn.now() });
    return null;
  });
}
