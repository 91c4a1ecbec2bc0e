import { STAGING_PATCH_GROUP } from '../db/repositories/cycles.ts';
import { deployerFor } from './deployer-routing.ts';
import { usersWithRole } from '../db/repositories/users.ts';
import { batchesOf, describeLimit, placeAsset, ringLimit } from '../workflows/rings.ts';
import { durationToMs } from '../workflows/time.ts';
import type { DeploymentPolicy } from '../workflows/types.ts';
import { describeSlot, nextSlot } from '../workflows/windows.ts';
import { resolveCycleRequest } from './cycles.ts';
import type { Principal } from '../security/index.ts';
import type { AppContext } from './context.ts';
import { DEMO_PATCH, demoAssets } from '../demo/seed.ts';
import type { FindingsScope, ScopedTarget } from './findings-scope.ts';

export interface PlannedRing {
  ring: string;
  order: number;
  /** Each host with the deployer that will patch it (deployer routing). */
  hosts: { hostname: string; criticality: number; deployer: string }[];
  targets: number;
  batches: number;
  maxConcurrency: number;
  errorThreshold: string;
  /** Estimated from the policy's batchDuration; null when the ring is empty. */
  startsAt: string | null;
  endsAt: string | null;
  windows: string[];
}

export interface CyclePlan {
  requester: string;
  patches: { id: string; title: string }[];
  staging: { hosts: string[]; note: string };
  rings: PlannedRing[];
  approvals: { quorum: number; approvers: string[]; note: string };
  policy: {
    failureBudget: string;
    soak: string;
    healthCheck: boolean;
    backup: boolean;
    rollback: DeploymentPolicy['rollback'];
    reboot: DeploymentPolicy['reboot'];
  };
  schedule: { estimatedStart: string; estimatedEnd: string; windowsUsed: number; fitsWindow: boolean; note: string };
  /** How many hosts each deployer patches (one entry unless deployer routing sends some hosts elsewhere). */
  deployers: Record<string, number>;
  /** When the scope came from the findings: each asset × patch with its ring, risk, deadline and reason; what the baselines hold back. */
  findings?: {
    targets: (ScopedTarget & { ring: string })[];
    heldBack: FindingsScope['heldBack'];
    approvedBy: FindingsScope['approvedBy'];
    unmapped: FindingsScope['unmapped'];
  };
}

interface PlanAsset {
  hostname: string;
  criticality: number;
  patch_group: string | null;
  platform: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The dry run: what `POST /api/cycles` with the same body would patch, where, in which ring and
 * window, and who must approve. Reads only; the demo fleet is described even before it is seeded.
 */
export async function planCycle(
  ctx: AppContext,
  principal: Principal,
  body: unknown,
  now = Date.now(),
): Promise<CyclePlan> {
  const demoSeeded = !!(await ctx.db('patches').where({ id: DEMO_PATCH.id }).first());
  const { req, requester, patchIds, hostnames, policy, findings } = await resolveCycleRequest(
    ctx,
    principal,
    'cycle.plan',
    body,
    demoSeeded,
  );
  const dep = policy.deployment;

  const query = ctx.db('assets').select('hostname', 'criticality', 'patch_group', 'platform').orderBy('hostname');
  if (hostnames.length) query.whereIn('hostname', hostnames);
  let assets = (await query) as PlanAsset[];
  if (req.demo && !demoSeeded)
    assets = demoAssets
      .filter((a) => hostnames.includes(a.hostname))
      .map((a) => ({
        hostname: a.hostname,
        criticality: a.criticality,
        patch_group: a.patchGroup,
        platform: a.platform,
      }));
  const deployerOf = (a: PlanAsset) =>
    deployerFor({ platform: a.platform, patchGroup: a.patch_group }, ctx.settings.deployers, ctx.settings.deployer);
  const deployers: Record<string, number> = {};
  for (const a of assets) deployers[deployerOf(a)] = (deployers[deployerOf(a)] ?? 0) + 1;
  const recorded = (await ctx.db('patches').whereIn('id', patchIds).select('id', 'title')) as {
    id: string;
    title: string;
  }[];
  const patches = patchIds.map((id) => recorded.find((p) => p.id === id) ?? { id, title: DEMO_PATCH.title });

  const staging = assets.filter((a) => a.patch_group === STAGING_PATCH_GROUP).map((a) => a.hostname);
  const byRing = new Map<string, PlanAsset[]>();
  const ringOf = new Map<string, string>();
  for (const a of assets) {
    const { ring } =
      a.patch_group === STAGING_PATCH_GROUP ? { ring: STAGING_PATCH_GROUP } : placeAsset(dep.rings, a.criticality);
    ringOf.set(a.hostname, ring);
    if (ring !== STAGING_PATCH_GROUP) byRing.set(ring, [...(byRing.get(ring) ?? []), a]);
  }
  const pairsPerHost = new Map<string, number>();
  for (const t of findings?.targets ?? []) pairsPerHost.set(t.hostname, (pairsPerHost.get(t.hostname) ?? 0) + 1);
  const patchesOn = (hostname: string) => (findings ? (pairsPerHost.get(hostname) ?? 0) : patches.length);

  const batchMs = durationToMs(dep.batchDuration);
  const soakMs = durationToMs(dep.soak);
  const windowsSeen = new Set<number>();
  let clock = req.window ? Math.max(now, Date.parse(req.window.start)) : now;
  const estimatedStart = clock;
  let unschedulable = false;
  const rings: PlannedRing[] = dep.rings.map((r, i) => {
    const hosts = (byRing.get(r.name) ?? []).map((a) => ({
      hostname: a.hostname,
      criticality: a.criticality,
      deployer: deployerOf(a),
    }));
    const batches = batchesOf(hosts, r.maxConcurrency).length;
    const windows = new Set<string>();
    let startsAt: number | null = null;
    for (let b = 0; b < batches && !unschedulable; b++) {
      if (dep.windows) {
        const slot = nextSlot(dep.windows, clock, batchMs);
        if (!slot) {
          unschedulable = true;
          break;
        }
        windowsSeen.add(slot.windowStart);
        windows.add(describeSlot(slot, dep.windows.timezone));
        clock = slot.startsAt;
      }
      startsAt ??= clock;
      clock += batchMs;
    }
    const endsAt = startsAt === null ? null : clock;
    if (batches > 0 && i < dep.rings.length - 1) clock += soakMs;
    return {
      ring: r.name,
      order: i + 1,
      hosts,
      targets: hosts.reduce((n, h) => n + patchesOn(h.hostname), 0),
      batches,
      maxConcurrency: r.maxConcurrency,
      errorThreshold: describeLimit(ringLimit(dep, r.name)),
      startsAt: startsAt === null ? null : iso(startsAt),
      endsAt: endsAt === null ? null : iso(endsAt),
      windows: [...windows],
    };
  });

  const windowEnd = req.window ? Date.parse(req.window.end) : null;
  const fitsWindow = !unschedulable && (windowEnd === null ? windowsSeen.size <= 1 : clock <= windowEnd);
  const scheduleNote = unschedulable
    ? `no maintenance window in the next year fits a ${dep.batchDuration} batch`
    : windowEnd !== null
      ? fitsWindow
        ? `finishes by ${iso(clock)}, inside the requested window ending ${req.window!.end}`
        : `estimated to run until ${iso(clock)}, past the requested window's end ${req.window!.end}`
      : dep.windows
        ? fitsWindow
          ? 'fits in one maintenance window'
          : `spans ${windowsSeen.size} maintenance windows; work that cannot finish before a cutoff waits for the next window`
        : 'no maintenance windows configured: deploys as soon as it is approved';

  const approvers = (await usersWithRole(ctx.db, 'approver'))
    .map((u) => u.id)
    .filter((id) => id !== requester && id !== req.author);
  const groups = policy.approval.approverGroups ?? [];
  return {
    requester,
    patches,
    staging: {
      hosts: staging,
      note: staging.length
        ? `tested on ${staging.join(', ')} before approval is requested`
        : 'no staging hosts in scope: approval is requested at once',
    },
    rings,
    approvals: {
      quorum: policy.approval.quorum,
      approvers,
      note: `CAB approval by ${policy.approval.quorum} of ${groups.length ? `the groups ${groups.join(', ')}` : `the approvers (${approvers.join(', ') || 'none on record'})`}; ${requester}${req.author ? ` and ${req.author}` : ''} may not approve; fails closed after ${policy.approval.timeout}`,
    },
    policy: {
      failureBudget: dep.failureBudget ? describeLimit(dep.failureBudget) : 'none',
      soak: dep.soak,
      healthCheck: dep.healthCheck,
      backup: dep.backup,
      rollback: dep.rollback,
      reboot: dep.reboot,
    },
    schedule: {
      estimatedStart: rings.find((r) => r.startsAt)?.startsAt ?? iso(estimatedStart),
      estimatedEnd: iso(clock),
      windowsUsed: windowsSeen.size,
      fitsWindow,
      note: scheduleNote,
    },
    deployers,
    ...(findings
      ? {
          findings: {
            targets: findings.targets.map((t) => ({ ...t, ring: ringOf.get(t.hostname) ?? 'unknown' })),
            heldBack: findings.heldBack,
            approvedBy: findings.approvedBy,
            unmapped: findings.unmapped,
          },
        }
      : {}),
  };
}
