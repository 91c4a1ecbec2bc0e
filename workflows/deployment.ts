import {
  CancellationScope,
  condition,
  continueAsNew,
  executeChild,
  patched,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { RingHealth, RingRollback } from '../activities/rollout.ts';
import { hostActivities, recordActivities } from './activity-options.ts';
import { installRingGate, type CycleControlState } from './cycle-control.ts';
import { describeEnd, endedForGood } from './failures.ts';
import { phaseWorkflowId } from './ids.ts';
import { ringAtATimeDeployment } from './legacy/ring-at-a-time-deployment.ts';
import { patches } from './patches.ts';
import type { PhaseInput } from './phases.ts';
import { DEFAULT_MIN_SAMPLE, batchesOf, breaksLimit, describeLimit, exceeds, ringLimit } from './rings.ts';
import { durationToMs } from './time.ts';
import type { DeploymentPolicy, FailureLimit, RingOutcome, RingPlan } from './types.ts';
import { describeSlot, nextSlot } from './windows.ts';

/** Rings with more batches than this run them in child workflows, so that no history nears 10,000 events. */
const INLINE_BATCHES = 20;
/** At about six events per batch, a child of this many batches stays near 3,000 events. */
const BATCHES_PER_CHILD = 500;

export interface DeploymentResult {
  rings: RingOutcome[];
  halted: boolean;
  haltReason?: string;
  rollbacks?: RingRollback[];
}

export interface DeploymentInput extends PhaseInput {
  rings: RingPlan[];
  policy: DeploymentPolicy;
  /** Where a run that continued as new picks up. */
  progress?: RolloutProgress | undefined;
  /**
   * The end of the change window the CAB approved (ISO instant): no batch starts unless it is
   * expected to finish by then. Absent when the change named no window.
   */
  notAfter?: string | undefined;
  /** The cycle's pause/cancel state as the previous run last received it. */
  control?: CycleControlState | undefined;
}

/** Everything the rollout has learned so far; small and plain, so that it survives continueAsNew. */
export interface RolloutProgress {
  ringIndex: number;
  batchIndex: number;
  /** The current ring's tally so far. */
  current: RingOutcome | null;
  rings: RingOutcome[];
  /** Rings that patched hosts, in order: their compensation is a rollback. */
  touched: string[];
  failedTotal: number;
  /** Hosts attempted in the rings done; absent in rollouts that continued as new before it existed. */
  attemptedTotal?: number | undefined;
}

/** What a run of consecutive batches reports: how far it got and why it stopped. */
export interface BatchRunResult {
  tally: RingOutcome;
  batchesDone: number;
  stop: 'done' | 'cutoff' | 'threshold' | 'budget' | 'cancelled';
}

export interface BatchRunInput extends PhaseInput {
  ring: string;
  batches: string[][];
  tally: RingOutcome;
  ringTargets: number;
  ringLimit: FailureLimit;
  budget: { limit: FailureLimit; total: number; failedBefore: number; attemptedBefore?: number | undefined } | null;
  /** See DeploymentPolicy.minSample; absent in batches started before it existed. */
  minSample?: number | undefined;
  /** Epoch ms after which no batch may still be running; null when there are no windows. */
  cutoffAt: number | null;
  batchMs: number;
  backup: boolean;
  reboot: DeploymentPolicy['reboot'];
}

const failedOf = (o: RingOutcome) => o.failed + o.unreachable;
const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const touchedHosts = (r: RingRollback) => r.rolledBack + r.failed > 0;
/** `ring pilot (32 hosts)`, or `ring pilot (30 hosts, 2 could not be undone)`. */
const describeRollback = (r: RingRollback) =>
  `ring ${r.ring} (${r.rolledBack} host${r.rolledBack === 1 ? '' : 's'}${r.failed ? `, ${r.failed} could not be undone` : ''})`;
const emptyTally = (ring: string): RingOutcome => ({
  ring,
  phase: 'deployment',
  total: 0,
  patched: 0,
  alreadyCompliant: 0,
  failed: 0,
  unreachable: 0,
  skipped: 0,
});
const add = (a: RingOutcome, b: RingOutcome): RingOutcome => ({
  ...a,
  total: a.total + b.total,
  patched: a.patched + b.patched,
  alreadyCompliant: a.alreadyCompliant + b.alreadyCompliant,
  failed: a.failed + b.failed,
  unreachable: a.unreachable + b.unreachable,
  skipped: (a.skipped ?? 0) + (b.skipped ?? 0),
});

/**
 * Consecutive batches of one ring, each one activity of at most maxConcurrency hosts; stops at the
 * ring's threshold, the global budget, the window's cutoff or (inline only) a cancel.
 */
async function runBatches(input: BatchRunInput, cancelled: () => Promise<boolean>): Promise<BatchRunResult> {
  const hosts = hostActivities(input.timeouts);
  const overAttempted = patched(patches.thresholdsOverAttempted);
  const minSample = input.minSample ?? DEFAULT_MIN_SAMPLE;
  /** The ring's threshold: over the hosts attempted so far, or over one batch large enough to judge alone. */
  const ringBroken = (tally: RingOutcome, batch: RingOutcome) =>
    overAttempted
      ? breaksLimit(
          input.ringLimit,
          { failed: failedOf(tally), attempted: tally.total, population: input.ringTargets },
          minSample,
        ) ||
        (batch.total >= minSample && exceeds(input.ringLimit, failedOf(batch), batch.total))
      : exceeds(input.ringLimit, failedOf(tally), input.ringTargets);
  const budgetSpent = (tally: RingOutcome, budget: NonNullable<BatchRunInput['budget']>) => {
    const failed = budget.failedBefore + failedOf(tally);
    return overAttempted
      ? breaksLimit(
          budget.limit,
          { failed, attempted: (budget.attemptedBefore ?? 0) + tally.total, population: budget.total },
          minSample,
        )
      : exceeds(budget.limit, failed, budget.total);
  };
  let tally = input.tally;
  for (let i = 0; i < input.batches.length; i++) {
    if (input.cutoffAt !== null && Date.now() + input.batchMs > input.cutoffAt)
      return { tally, batchesDone: i, stop: 'cutoff' };
    if (await cancelled()) return { tally, batchesDone: i, stop: 'cancelled' };
    const outcome = await hosts.deployRing({
      cycleId: input.cycleId,
      ring: input.ring,
      phase: 'deployment',
      assetIds: input.batches[i],
      backup: input.backup,
      reboot: input.reboot,
    });
    tally = add(tally, outcome);
    if (ringBroken(tally, outcome)) return { tally, batchesDone: i + 1, stop: 'threshold' };
    if (input.budget && budgetSpent(tally, input.budget)) return { tally, batchesDone: i + 1, stop: 'budget' };
  }
  return { tally, batchesDone: input.batches.length, stop: 'done' };
}

/** A slice of a large ring, in its own history. The deployment relays pause and cancel to it; they take hold between batches. */
export async function ringBatchesWorkflow(input: BatchRunInput): Promise<BatchRunResult> {
  const gate = installRingGate();
  return runBatches(input, () => gate.cancelledBeforeNextRing());
}

/**
 * The rollout: rings in policy order, each in batches of its max concurrency, inside maintenance
 * windows, with per-ring error thresholds, a global failure budget, soak and health checks between
 * rings, and rollback of what a failed rollout patched. Pause/cancel hold between batches.
 */
export async function deploymentWorkflow(input: DeploymentInput): Promise<DeploymentResult> {
  // Deployments started before the rollout engine keep the ring-at-a-time behaviour they began with.
  if (!patched(patches.rolloutEngine)) return ringAtATimeDeployment(input);
  const { cycleId, timeouts, policy } = input;
  const hosts = hostActivities(timeouts);
  const records = recordActivities(timeouts);
  const gate = installRingGate(input.control);
  const rings = [...input.rings].sort((a, b) => a.order - b.order);
  const budgetTotal = rings.reduce((n, r) => n + r.targets, 0);
  const batchMs = durationToMs(policy.batchDuration);
  const progress: RolloutProgress = input.progress ?? {
    ringIndex: 0,
    batchIndex: 0,
    current: null,
    rings: [],
    touched: [],
    failedTotal: 0,
  };
  const note = (status: 'running' | 'scheduled', text: string) =>
    records.setCycleState({ cycleId, phase: 'deployment', status, note: text });

  const compensate = async (reason: string, everything: boolean): Promise<RingRollback[]> => {
    const undo = everything ? [...progress.touched].reverse() : progress.touched.slice(-1);
    const done: RingRollback[] = [];
    for (const ring of undo) {
      await note('running', `rolling back ring ${ring}: ${reason}`);
      done.push(await hosts.rollbackRing({ cycleId, ring, reason }));
    }
    return done;
  };
  const halt = async (reason: string, rollback: 'none' | 'ring' | 'all'): Promise<DeploymentResult> => {
    if (progress.current) progress.rings.push(progress.current);
    const rollbacks = rollback === 'none' ? [] : await compensate(reason, rollback === 'all');
    return {
      rings: progress.rings,
      halted: true,
      // A ring that patched nothing had nothing to undo: the reason names only rollbacks that did something.
      haltReason: rollbacks.some(touchedHosts)
        ? `${reason}; rolled back ${rollbacks.filter(touchedHosts).map(describeRollback).join(', ')}`
        : reason,
      rollbacks,
    };
  };
  const onRingFailure = policy.rollback.failedRing ? 'ring' : 'none';
  const onGlobalFailure = policy.rollback.completedRings ? 'all' : onRingFailure;

  const approvedEnd = input.notAfter ? Date.parse(input.notAfter) : null;
  /** The approved change window is a hard end: the next batch would not finish inside it. */
  const approvedWindowOver = () => approvedEnd !== null && Date.now() + batchMs > approvedEnd;
  /** What is left waits for a new window from the CAB: nothing more is deployed, and nothing is undone. */
  const haltAtApprovedEnd = (plan: RingPlan, batchesLeft: number) =>
    halt(
      `the approved change window ends at ${input.notAfter} and the next ${policy.batchDuration} batch would not finish inside it; ${batchesLeft} batch(es) of ring ${plan.ring} and any later rings were not deployed — request a new window from the CAB`,
      'none',
    );
  /** Waits for a maintenance window the next batch fits in; gives the window's cutoff (null without windows) or the halt. */
  const awaitWindow = async (
    plan: RingPlan,
    batchesLeft: number,
  ): Promise<{ cutoffAt: number | null } | DeploymentResult> => {
    if (!policy.windows) return { cutoffAt: null };
    const slot = nextSlot(policy.windows, Date.now(), batchMs);
    if (!slot)
      return halt(
        `ring ${plan.ring}: no maintenance window in the next year fits a ${policy.batchDuration} batch`,
        'none',
      );
    if (slot.startsAt > Date.now()) {
      await note(
        'scheduled',
        `waiting for the maintenance window ${describeSlot(slot, policy.windows.timezone)}; ${batchesLeft} batch(es) of ring ${plan.ring} left`,
      );
      if (await condition(() => gate.cancelled(), slot.startsAt - Date.now())) return halt(gate.reason(), 'none');
      await note('running', `maintenance window open; deploying ring ${plan.ring}`);
    }
    return { cutoffAt: slot.cutoffAt };
  };
  /** Runs the ring's remaining batches: a few inline, many in a child workflow of at most BATCHES_PER_CHILD. */
  const runSlice = async (run: BatchRunInput, workflowId: string): Promise<BatchRunResult> => {
    if (run.batches.length <= INLINE_BATCHES) return runBatches(run, () => gate.cancelledBeforeNextRing());
    const child = { workflowId, args: [{ ...run, batches: run.batches.slice(0, BATCHES_PER_CHILD) }] as const };
    if (patched(patches.relayControlToBatches)) return gate.controlled(await startChild(ringBatchesWorkflow, child));
    // Rollouts from before the relay ran a large ring's slice to its end before a pause took hold.
    return executeChild(ringBatchesWorkflow, child);
  };
  /** Between rings: soak, then check the finished ring's health; gives the halt when either stops the rollout. */
  const soakAndCheck = async (
    plan: RingPlan,
    outcome: RingOutcome,
    limit: FailureLimit,
  ): Promise<DeploymentResult | null> => {
    const soakMs = durationToMs(policy.soak);
    // Without a soak the deployer's own post-install check is as fresh as a health check would be.
    if (soakMs <= 0 || outcome.patched + outcome.alreadyCompliant <= 0) return null;
    await note('running', `ring ${plan.ring} done; soaking for ${policy.soak} before the next ring`);
    if (await condition(() => gate.cancelled(), soakMs)) return halt(gate.reason(), 'none');
    if (!policy.healthCheck) return null;
    const health: RingHealth = await hosts.checkRingHealth({ cycleId, ring: plan.ring });
    if (!exceeds(limit, failedOf(outcome) + health.unhealthy, plan.targets)) return null;
    return halt(
      `ring ${plan.ring} failed its health check after the soak: ${health.unhealthy} of ${health.checked} hosts unhealthy (${health.examples.join('; ')})`,
      onGlobalFailure,
    );
  };

  const rollout = async (): Promise<DeploymentResult> => {
    for (; progress.ringIndex < rings.length; progress.ringIndex++, progress.batchIndex = 0, progress.current = null) {
      const plan = rings[progress.ringIndex]!;
      if (await gate.cancelledBeforeNextRing()) return halt(gate.reason(), 'none');
      const assetIds = await hosts.ringAssets({ cycleId, ring: plan.ring });
      const size = policy.rings.find((r) => r.name === plan.ring)?.maxConcurrency ?? assetIds.length;
      const batches = batchesOf(assetIds, Math.max(1, size));
      const limit = ringLimit(policy, plan.ring);
      if (progress.batchIndex === 0)
        await note(
          'running',
          `deploying ring ${plan.ring}: ${plan.targets} target(s) in ${batches.length} batch(es) of up to ${size} host(s)`,
        );
      // The ring's compensation is registered before it patches anything: a failure mid-ring rolls back what it did.
      if (!progress.touched.includes(plan.ring)) progress.touched.push(plan.ring);
      progress.current ??= emptyTally(plan.ring);

      while (progress.batchIndex < batches.length) {
        if (approvedWindowOver()) return haltAtApprovedEnd(plan, batches.length - progress.batchIndex);
        const window = await awaitWindow(plan, batches.length - progress.batchIndex);
        if ('halted' in window) return window;
        if (approvedWindowOver()) return haltAtApprovedEnd(plan, batches.length - progress.batchIndex);
        const run: BatchRunInput = {
          cycleId,
          timeouts,
          ring: plan.ring,
          tally: progress.current,
          ringTargets: plan.targets,
          ringLimit: limit,
          budget: policy.failureBudget
            ? {
                limit: policy.failureBudget,
                total: budgetTotal,
                failedBefore: progress.failedTotal,
                attemptedBefore: progress.attemptedTotal ?? 0,
              }
            : null,
          ...(policy.minSample !== undefined ? { minSample: policy.minSample } : {}),
          cutoffAt: earliest(window.cutoffAt, approvedEnd),
          batchMs,
          backup: policy.backup,
          reboot: policy.reboot,
          batches: batches.slice(progress.batchIndex),
        };
        const result = await runSlice(
          run,
          `${phaseWorkflowId(cycleId, 'deployment')}-${plan.ring}-${progress.batchIndex}`,
        );
        progress.batchIndex += result.batchesDone;
        progress.current = result.tally;
        const failed = failedOf(result.tally);
        if (result.stop === 'cancelled') return halt(gate.reason(), 'none');
        if (result.stop === 'threshold') {
          return halt(
            `ring ${plan.ring}: ${failed} of ${result.tally.total} hosts attempted failed (${plan.targets} in the ring), over the ${describeLimit(limit)} threshold; later rings were not touched`,
            onRingFailure,
          );
        }
        if (result.stop === 'budget') {
          return halt(
            `the global failure budget (${describeLimit(policy.failureBudget!)} of ${budgetTotal}) is spent: ${progress.failedTotal + failed} hosts failed by ring ${plan.ring}`,
            onGlobalFailure,
          );
        }
        if (result.stop === 'cutoff')
          await note(
            'scheduled',
            `ring ${plan.ring}: the next batch would not finish before the window's cutoff; waiting for the next window`,
          );
        if (workflowInfo().continueAsNewSuggested)
          return continueAsNew<typeof deploymentWorkflow>({ ...input, progress, control: gate.state() });
      }
      progress.failedTotal += failedOf(progress.current);
      progress.attemptedTotal = (progress.attemptedTotal ?? 0) + progress.current.total;
      progress.rings.push(progress.current);
      const outcome = progress.current;
      progress.current = null;

      if (progress.ringIndex < rings.length - 1) {
        const halted = await soakAndCheck(plan, outcome, limit);
        if (halted) return halted;
      }
      if (workflowInfo().continueAsNewSuggested)
        return continueAsNew<typeof deploymentWorkflow>({
          ...input,
          progress: { ...progress, ringIndex: progress.ringIndex + 1, batchIndex: 0 },
          control: gate.state(),
        });
    }
    return { rings: progress.rings, halted: false };
  };

  try {
    return await rollout();
  } catch (err) {
    if (!endedForGood(err) || !patched(patches.compensateFailedRollouts)) throw err;
    // A batch that failed after every retry, or a cancel from Temporal, leaves the ring in progress
    // half-patched: it is compensated as policy says, in a scope the cancel cannot reach.
    return CancellationScope.nonCancellable(() => halt(`the rollout failed: ${describeEnd(err)}`, onRingFailure));
  }
}
