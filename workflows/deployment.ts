import { condition, continueAsNew, executeChild, patched, startChild, workflowInfo } from '@temporalio/workflow';
import type { RingHealth, RingRollback } from '../activities/rollout.ts';
import { hostActivities, recordActivities } from './activity-options.ts';
import { installRingGate, type CycleControlState } from './cycle-control.ts';
import { phaseWorkflowId } from './ids.ts';
import { ringBreachesThreshold, type PhaseInput } from './phases.ts';
import { batchesOf, describeLimit, exceeds, ringLimit } from './rings.ts';
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
  budget: { limit: FailureLimit; total: number; failedBefore: number } | null;
  /** Epoch ms after which no batch may still be running; null when there are no windows. */
  cutoffAt: number | null;
  batchMs: number;
  backup: boolean;
  reboot: DeploymentPolicy['reboot'];
}

const failedOf = (o: RingOutcome) => o.failed + o.unreachable;
const emptyTally = (ring: string): RingOutcome => ({ ring, phase: 'deployment', total: 0, patched: 0, alreadyCompliant: 0, failed: 0, unreachable: 0, skipped: 0 });
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
  let tally = input.tally;
  for (let i = 0; i < input.batches.length; i++) {
    if (input.cutoffAt !== null && Date.now() + input.batchMs > input.cutoffAt) return { tally, batchesDone: i, stop: 'cutoff' };
    if (await cancelled()) return { tally, batchesDone: i, stop: 'cancelled' };
    const outcome = await hosts.deployRing({ cycleId: input.cycleId, ring: input.ring, phase: 'deployment', assetIds: input.batches[i], backup: input.backup, reboot: input.reboot });
    tally = add(tally, outcome);
    if (exceeds(input.ringLimit, failedOf(tally), input.ringTargets)) return { tally, batchesDone: i + 1, stop: 'threshold' };
    if (input.budget && exceeds(input.budget.limit, input.budget.failedBefore + failedOf(tally), input.budget.total)) return { tally, batchesDone: i + 1, stop: 'budget' };
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
  if (!patched('rollout-engine')) return ringAtATimeDeployment(input);
  const { cycleId, timeouts, policy } = input;
  const hosts = hostActivities(timeouts);
  const records = recordActivities(timeouts);
  const gate = installRingGate(input.control);
  const rings = [...input.rings].sort((a, b) => a.order - b.order);
  const budgetTotal = rings.reduce((n, r) => n + r.targets, 0);
  const batchMs = durationToMs(policy.batchDuration);
  const p: RolloutProgress = input.progress ?? { ringIndex: 0, batchIndex: 0, current: null, rings: [], touched: [], failedTotal: 0 };
  const note = (status: 'running' | 'scheduled', text: string) => records.setCycleState({ cycleId, phase: 'deployment', status, note: text });

  const compensate = async (reason: string, everything: boolean): Promise<RingRollback[]> => {
    const undo = everything ? [...p.touched].reverse() : p.touched.slice(-1);
    const done: RingRollback[] = [];
    for (const ring of undo) {
      await note('running', `rolling back ring ${ring}: ${reason}`);
      done.push(await hosts.rollbackRing({ cycleId, ring, reason }));
    }
    return done;
  };
  const halt = async (reason: string, rollback: 'none' | 'ring' | 'all'): Promise<DeploymentResult> => {
    if (p.current) p.rings.push(p.current);
    const rollbacks = rollback === 'none' ? [] : await compensate(reason, rollback === 'all');
    return { rings: p.rings, halted: true, haltReason: rollbacks.length ? `${reason}; rolled back ring(s) ${rollbacks.map((r) => r.ring).join(', ')}` : reason, rollbacks };
  };
  const onRingFailure = policy.rollback.failedRing ? 'ring' : 'none';
  const onGlobalFailure = policy.rollback.completedRings ? 'all' : onRingFailure;

  for (; p.ringIndex < rings.length; p.ringIndex++, p.batchIndex = 0, p.current = null) {
    const plan = rings[p.ringIndex]!;
    if (await gate.cancelledBeforeNextRing()) return halt(gate.reason(), 'none');
    const assetIds = await hosts.ringAssets({ cycleId, ring: plan.ring });
    const size = policy.rings.find((r) => r.name === plan.ring)?.maxConcurrency ?? assetIds.length;
    const batches = batchesOf(assetIds, Math.max(1, size));
    const limit = ringLimit(policy, plan.ring);
    if (p.batchIndex === 0) await note('running', `deploying ring ${plan.ring}: ${plan.targets} target(s) in ${batches.length} batch(es) of up to ${size} host(s)`);
    // The ring's compensation is registered before it patches anything: a failure mid-ring rolls back what it did.
    if (!p.touched.includes(plan.ring)) p.touched.push(plan.ring);
    p.current ??= emptyTally(plan.ring);

    while (p.batchIndex < batches.length) {
      let cutoffAt: number | null = null;
      if (policy.windows) {
        const slot = nextSlot(policy.windows, Date.now(), batchMs);
        if (!slot) return halt(`ring ${plan.ring}: no maintenance window in the next year fits a ${policy.batchDuration} batch`, 'none');
        if (slot.startsAt > Date.now()) {
          await note('scheduled', `waiting for the maintenance window ${describeSlot(slot, policy.windows.timezone)}; ${batches.length - p.batchIndex} batch(es) of ring ${plan.ring} left`);
          if (await condition(() => gate.cancelled(), slot.startsAt - Date.now())) return halt(gate.reason(), 'none');
          await note('running', `maintenance window open; deploying ring ${plan.ring}`);
        }
        cutoffAt = slot.cutoffAt;
      }
      const remaining = batches.slice(p.batchIndex);
      const run: BatchRunInput = {
        cycleId, timeouts, ring: plan.ring, tally: p.current, ringTargets: plan.targets, ringLimit: limit,
        budget: policy.failureBudget ? { limit: policy.failureBudget, total: budgetTotal, failedBefore: p.failedTotal } : null,
        cutoffAt, batchMs, backup: policy.backup, reboot: policy.reboot, batches: remaining,
      };
      const child = { workflowId: `${phaseWorkflowId(cycleId, 'deployment')}-${plan.ring}-${p.batchIndex}`, args: [{ ...run, batches: remaining.slice(0, BATCHES_PER_CHILD) }] as const };
      // Rollouts from before the relay ran a large ring's slice to its end before a pause took hold.
      const result =
        remaining.length <= INLINE_BATCHES
          ? await runBatches(run, () => gate.cancelledBeforeNextRing())
          : patched('relay-control-to-batches')
            ? await gate.controlled(await startChild(ringBatchesWorkflow, child))
            : await executeChild(ringBatchesWorkflow, child);
      p.batchIndex += result.batchesDone;
      p.current = result.tally;
      const failed = failedOf(result.tally);
      if (result.stop === 'cancelled') return halt(gate.reason(), 'none');
      if (result.stop === 'threshold') {
        return halt(`ring ${plan.ring}: ${failed} of ${plan.targets} hosts failed, over the ${describeLimit(limit)} threshold; later rings were not touched`, onRingFailure);
      }
      if (result.stop === 'budget') {
        return halt(`the global failure budget (${describeLimit(policy.failureBudget!)} of ${budgetTotal}) is spent: ${p.failedTotal + failed} hosts failed by ring ${plan.ring}`, onGlobalFailure);
      }
      if (result.stop === 'cutoff') await note('scheduled', `ring ${plan.ring}: the next batch would not finish before the window's cutoff; waiting for the next window`);
      if (workflowInfo().continueAsNewSuggested) return continueAsNew<typeof deploymentWorkflow>({ ...input, progress: p, control: gate.state() });
    }
    p.failedTotal += failedOf(p.current);
    p.rings.push(p.current);
    const outcome = p.current;
    p.current = null;

    if (p.ringIndex < rings.length - 1) {
      const soakMs = durationToMs(policy.soak);
      // Without a soak the deployer's own post-install check is as fresh as a health check would be.
      if (soakMs > 0 && outcome.patched + outcome.alreadyCompliant > 0) {
        await note('running', `ring ${plan.ring} done; soaking for ${policy.soak} before the next ring`);
        if (await condition(() => gate.cancelled(), soakMs)) return halt(gate.reason(), 'none');
      }
      if (soakMs > 0 && policy.healthCheck && outcome.patched + outcome.alreadyCompliant > 0) {
        const health: RingHealth = await hosts.checkRingHealth({ cycleId, ring: plan.ring });
        if (exceeds(limit, failedOf(outcome) + health.unhealthy, plan.targets)) {
          return halt(`ring ${plan.ring} failed its health check after the soak: ${health.unhealthy} of ${health.checked} hosts unhealthy (${health.examples.join('; ')})`, onGlobalFailure);
        }
      }
    }
    if (workflowInfo().continueAsNewSuggested) return continueAsNew<typeof deploymentWorkflow>({ ...input, progress: { ...p, ringIndex: p.ringIndex + 1, batchIndex: 0 }, control: gate.state() });
  }
  return { rings: p.rings, halted: false };
}

/** The deployment as it ran before the rollout engine: whole rings, one threshold, no windows. Kept for replay. */
async function ringAtATimeDeployment(input: DeploymentInput): Promise<DeploymentResult> {
  const hosts = hostActivities(input.timeouts);
  const records = recordActivities(input.timeouts);
  const rings: RingOutcome[] = [];
  const gate = installRingGate();
  for (const plan of [...input.rings].sort((a, b) => a.order - b.order)) {
    if (await gate.cancelledBeforeNextRing()) return { rings, halted: true, haltReason: gate.reason() };
    await records.setCycleState({ cycleId: input.cycleId, phase: 'deployment', status: 'running', note: `deploying ring ${plan.ring} (${plan.targets} targets)` });
    const outcome = await hosts.deployRing({ cycleId: input.cycleId, ring: plan.ring, phase: 'deployment' });
    rings.push(outcome);
    if (ringBreachesThreshold(outcome, input.policy)) {
      const failed = outcome.failed + outcome.unreachable;
      return { rings, halted: true, haltReason: `ring ${plan.ring}: ${failed} of ${outcome.total} hosts failed, over the ${input.policy.maxFailedPercent}% threshold; later rings were not touched` };
    }
  }
  return { rings, halted: false };
}
