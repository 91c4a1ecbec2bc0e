import type { Knex } from 'knex';
import { stagingChecks } from './staging-checks.ts';
import { z } from 'zod';
import type {
  ApprovalPolicy,
  ApprovalState,
  ApproverPools,
  ChangeRequest,
  RiskCve,
} from '../../workflows/approval-types.ts';
import type { CardSource } from '../../integrations/kit/chat/card.ts';
import type { VerificationOutcome } from '../../workflows/types.ts';
import { STAGING_RING, getCycle, ringOutcome, ringOutcomes } from './cycles.ts';
import { usersInGroups, type User } from './users.ts';

/** The optional parts of a cycle request that only the change request reads (stored in cycles.request). */
const changeRequestExtrasSchema = z.object({
  author: z.string().optional(),
  window: z.object({ start: z.string(), end: z.string() }).optional(),
  rollbackPlan: z.string().optional(),
  policyNotes: z.object({ summary: z.string(), changes: z.array(z.string()) }).optional(),
});

/** The verification outcome the cycle's summary holds once the cycle has finished. */
const verificationSchema = z.object({
  total: z.number(),
  compliant: z.number(),
  nonCompliant: z.number(),
}) satisfies z.ZodType<VerificationOutcome>;

const TOP_CVES = 5;

/**
 * Gathers what approvers are asked to decide on: scope per ring, risk (KEV, scores, deadlines),
 * the staging result, the window and the rollback plan. A KEV fixed by this change on an
 * internet-facing tier-1 asset makes it an emergency change.
 */
export async function buildChangeRequest(
  db: Knex,
  cycleId: string,
  opts: { maxFailedPercent: number; deployer: string },
): Promise<ChangeRequest> {
  const cycle = await getCycle(db, cycleId);
  const extras = changeRequestExtrasSchema.parse(cycle.request);
  const patches = (await db('patches')
    .whereIn('id', cycle.request.patchIds)
    .select('id', 'title', 'vendor_ref')
    .orderBy('id')) as { id: string; title: string; vendor_ref: string }[];
  const targets = (await db('cycle_targets as t')
    .join('assets as a', 'a.id', 't.asset_id')
    .where({ 't.cycle_id': cycleId })
    .select('t.ring', 't.ring_order', 't.patch_id', 'a.hostname', 'a.criticality', 'a.exposure')
    .orderBy(['t.ring_order', 'a.hostname'])) as {
    ring: string;
    ring_order: number;
    patch_id: string;
    hostname: string;
    criticality: number;
    exposure: string;
  }[];
  const cves = (await db('patch_cves as pc')
    .join('cves as c', 'c.id', 'pc.cve_id')
    .whereIn('pc.patch_id', cycle.request.patchIds)
    .select(
      'pc.patch_id',
      'c.id',
      'c.kev',
      db.raw(`to_char(c.kev_due_date, 'YYYY-MM-DD') as kev_due_date`),
      db.raw('coalesce(c.cvss_v4_score, c.cvss_v3_score) as cvss'),
      'c.epss',
    )) as {
    patch_id: string;
    id: string;
    kev: boolean;
    kev_due_date: string | null;
    cvss: number | null;
    epss: number | null;
  }[];

  const rings = new Map<string, { ring: string; order: number; hosts: string[] }>();
  for (const t of targets.filter((x) => x.ring !== STAGING_RING)) {
    const r = rings.get(t.ring) ?? { ring: t.ring, order: t.ring_order, hosts: [] };
    if (!r.hosts.includes(t.hostname)) r.hosts.push(t.hostname);
    rings.set(t.ring, r);
  }
  const kevPatches = new Set(cves.filter((c) => c.kev).map((c) => c.patch_id));
  const exposedCritical = [
    ...new Set(targets.filter((t) => t.criticality === 1 && t.exposure === 'internet').map((t) => t.hostname)),
  ];
  const emergencyHosts = [
    ...new Set(
      targets
        .filter((t) => t.criticality === 1 && t.exposure === 'internet' && kevPatches.has(t.patch_id))
        .map((t) => t.hostname),
    ),
  ];
  const byCve = new Map<string, RiskCve>();
  for (const c of cves)
    byCve.set(c.id, { id: c.id, cvss: c.cvss, epss: c.epss, kev: c.kev, kevDueDate: c.kev_due_date });
  const ranked = [...byCve.values()].sort(
    (a, b) => Number(b.kev) - Number(a.kev) || (b.cvss ?? 0) - (a.cvss ?? 0) || (b.epss ?? 0) - (a.epss ?? 0),
  );
  const kev = ranked.filter((c) => c.kev);
  const deadlines = kev
    .map((c) => c.kevDueDate)
    .filter((d): d is string => d !== null)
    .sort();
  const hasStaging = targets.some((t) => t.ring === STAGING_RING);

  return {
    cycleId,
    title: cycle.name,
    requester: cycle.requester,
    authors: [...new Set([cycle.requester, ...(extras.author ? [extras.author] : [])])],
    patches: patches.map((p) => ({ id: p.id, title: p.title, vendorRef: p.vendor_ref })),
    rings: [...rings.values()],
    assetCount: new Set(targets.map((t) => t.hostname)).size,
    targetCount: targets.length,
    risk: {
      kevCount: kev.length,
      topCves: ranked.slice(0, TOP_CVES),
      nextDeadline: deadlines[0] ?? null,
      exposedCritical,
    },
    staging: hasStaging
      ? {
          ...(await ringOutcome(db, cycleId, STAGING_RING, 'testing')),
          hosts: [...new Set(targets.filter((t) => t.ring === STAGING_RING).map((t) => t.hostname))],
          checks: await stagingChecks(db, cycleId),
        }
      : null,
    window: extras.window ?? null,
    rollbackPlan:
      extras.rollbackPlan ??
      `The rollout halts when a ring has more than ${opts.maxFailedPercent}% failed hosts; later rings are not touched. Patched hosts are restored with the ${opts.deployer} connector's rollback action.`,
    ...(extras.policyNotes ? { policy: extras.policyNotes } : {}),
    emergency: emergencyHosts.length
      ? `known-exploited ${kev.map((c) => c.id).join(', ')} on internet-facing tier-1 ${emergencyHosts.join(', ')}`
      : null,
  };
}

/** Who may decide: the CAB (approver role, narrowed to the policy's groups), the escalation pool and the emergency pool. */
export async function approverPools(db: Knex, policy: ApprovalPolicy): Promise<ApproverPools> {
  const ids = (users: User[]) => users.map((u) => u.id);
  const escalationGroups = policy.escalationGroups ?? [];
  return {
    approvers: ids(await usersInGroups(db, ['approver'], policy.approverGroups ?? [])),
    escalation: ids(
      escalationGroups.length
        ? await usersInGroups(db, ['approver', 'manager'], escalationGroups)
        : await usersInGroups(db, ['manager'], []),
    ),
    emergency: ids(await usersInGroups(db, ['approver', 'manager'], policy.emergency?.groups ?? [])),
  };
}

export async function saveChangeRequest(db: Knex, change: ChangeRequest, pools: ApproverPools): Promise<void> {
  await db('change_requests')
    .insert({ cycle_id: change.cycleId, emergency: change.emergency !== null, request: change, pools })
    .onConflict('cycle_id')
    .merge(['emergency', 'request', 'pools']);
}

/**
 * Keeps the newest state: the publish that follows the change's opening and a decision's own
 * refresh can run at once, and the older one (fewer decisions, or still pending after a final
 * outcome) must not land last and show a decided change as undecided.
 */
export async function saveApprovalState(db: Knex, state: ApprovalState): Promise<void> {
  await db('change_requests')
    .where({ cycle_id: state.cycleId })
    .andWhere((q) => {
      // A block, not an arrow that returns the builder: knex would take the returned builder for a promise.
      q.whereNull('state')
        .orWhereRaw(`jsonb_array_length(coalesce(state->'decisions', '[]'::jsonb)) < ?`, [state.decisions.length])
        .orWhereRaw(
          `jsonb_array_length(coalesce(state->'decisions', '[]'::jsonb)) = ? and (state->>'outcome' = 'pending' or ? <> 'pending')`,
          [state.decisions.length, state.outcome],
        );
    })
    .update({ state });
}

interface ChangeRow {
  request: ChangeRequest;
  pools: ApproverPools;
  state: ApprovalState | null;
}

/** Everything a chat card shows about one cycle, read fresh from the database. */
export async function loadChangeView(db: Knex, cycleId: string): Promise<CardSource> {
  const cycle = await getCycle(db, cycleId);
  const row = (await db('change_requests').where({ cycle_id: cycleId }).first()) as ChangeRow | undefined;
  const rings = await ringOutcomes(db, cycleId);
  const reason = cycle.summary['reason'];
  const verification = verificationSchema.safeParse(cycle.summary['verification']);
  return {
    cycle: {
      id: cycle.id,
      name: cycle.name,
      status: cycle.status,
      phase: cycle.phase,
      requester: cycle.requester,
      reason: typeof reason === 'string' ? reason : null,
    },
    change: row?.request ?? null,
    pools: row?.pools ?? null,
    approval: row?.state ?? null,
    rings,
    verification: verification.success ? verification.data : null,
  };
}

/** Cycles waiting for the CAB, newest first. */
export async function pendingApprovalIds(db: Knex): Promise<string[]> {
  return (
    (await db('cycles')
      .where({ phase: 'approval', status: 'awaiting_approval' })
      .orderBy('created_at', 'desc')
      .select('id')) as { id: string }[]
  ).map((r) => r.id);
}

/** Cycles not yet done, newest first. */
export async function activeCycleIds(db: Knex, limit = 20): Promise<string[]> {
  return (
    (await db('cycles').whereNot({ phase: 'done' }).orderBy('created_at', 'desc').limit(limit).select('id')) as {
      id: string;
    }[]
  ).map((r) => r.id);
}

export interface ChatMessageRow<R> {
  cycleId: string;
  connector: string;
  ref: R;
}

export async function chatMessages(db: Knex, cycleId: string): Promise<ChatMessageRow<unknown>[]> {
  const rows = (await db('chat_messages')
    .where({ cycle_id: cycleId })
    .whereNotNull('ref')
    .select('connector', 'ref')) as {
    connector: string;
    ref: unknown;
  }[];
  return rows.map((r) => ({ cycleId, connector: r.connector, ref: r.ref }));
}

export async function saveChatMessage(db: Knex, row: ChatMessageRow<unknown>): Promise<void> {
  await db('chat_messages')
    .insert({ cycle_id: row.cycleId, connector: row.connector, ref: row.ref })
    .onConflict(['cycle_id', 'connector'])
    .merge(['ref']);
}
