import {
  CancellationScope,
  ParentClosePolicy,
  condition,
  executeChild,
  isCancellation,
  patched,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { describeEnd, endedForGood, rootCause } from './failures.ts';
import { recordActivities } from './activity-options.ts';
import { approvalWorkflowId, phaseWorkflowId } from './ids.ts';
import { cycleProgressQuery } from './messages.ts';
import { approvalWorkflow } from './approval.ts';
import { installCycleControl } from './cycle-control.ts';
import { deploymentWorkflow, type DeploymentResult } from './deployment.ts';
import { patches } from './patches.ts';
import { describeStagingChecks } from './staging.ts';
import { reviewWorkflow, testingWorkflow, verificationWorkflow } from './phases.ts';
import type { CyclePhase, CycleStatus, PatchCycleInput, RingOutcome, VerificationOutcome } from './types.ts';

/**
 * One patch cycle, end to end: scope → test on staging → CAB approval → ring deployment →
 * verification → report → review. Each phase is a child workflow so that its history stays
 * small and its state can be addressed on its own (the approval gate takes Updates).
 */
/** How often a queued cycle asks again whether its hosts are free. */
const HOST_QUEUE_POLL = '10s';

export async function patchCycleWorkflow(input: PatchCycleInput): Promise<{ status: CycleStatus }> {
  const acts = recordActivities(input.timeouts);
  try {
    return await runCycle(input);
  } catch (err) {
    // A phase that failed for good (bad playbook, unreachable deployer after every retry) or a
    // cancel from Temporal still ends the cycle on record, with the cause a person can act on.
    if (!endedForGood(err)) throw err;
    if (!patched(patches.cycleEndsOnRecord)) {
      await acts.setCycleState({
        cycleId: input.cycleId,
        phase: 'done',
        status: 'failed',
        summary: { reason: rootCause(err) },
        note: 'cycle failed',
      });
      return { status: 'failed' };
    }
    const status: CycleStatus = isCancellation(err) ? 'cancelled' : 'failed';
    // The cancel that ended the cycle would also cancel its record and review: both run beyond its reach.
    await CancellationScope.nonCancellable(async () => {
      await acts.setCycleState({
        cycleId: input.cycleId,
        phase: 'done',
        status,
        summary: { reason: describeEnd(err) },
        note: `cycle ${status}`,
      });
      await startReview(input);
    });
    return { status };
  }
}

/** The post-patch review outlives the cycle; a cycle that already started it keeps that one. */
async function startReview({ cycleId, timeouts }: PatchCycleInput): Promise<void> {
  try {
    await startChild(reviewWorkflow, {
      workflowId: phaseWorkflowId(cycleId, 'review'),
      args: [{ cycleId, timeouts }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

async function runCycle(input: PatchCycleInput): Promise<{ status: CycleStatus }> {
  const acts = recordActivities(input.timeouts);
  const { cycleId, timeouts, policy } = input;
  let phase: CyclePhase = 'scoping';
  let status: CycleStatus = 'running';
  const rings: RingOutcome[] = [];
  setHandler(cycleProgressQuery, () => ({ cycleId, phase, status, rings: [...rings] }));

  /** A pause or cancel recorded after the rollout heard of it lands before the cycle's next record. */
  const recordedControl = async () => {
    const pending = control.recorded();
    if (pending) await pending;
  };
  const enter = async (next: CyclePhase, nextStatus: CycleStatus = 'running', note?: string) => {
    phase = next;
    status = nextStatus;
    await recordedControl();
    await acts.setCycleState({ cycleId, phase, status, note });
  };
  const control = installCycleControl({
    cycleId,
    view: () => ({ phase, status }),
    setStatus: (next, note) => enter(phase, next, note),
    showStatus: (next) => {
      status = next;
    },
    recordStatus: (next, note) => acts.setCycleState({ cycleId, phase, status: next, note }),
  });
  const finish = async (final: CycleStatus, summary: Record<string, unknown>) => {
    phase = 'done';
    status = final;
    await recordedControl();
    await acts.setCycleState({ cycleId, phase, status, summary, note: `cycle ${final}` });
    await startReview(input);
    return { status };
  };

  /**
   * One host × patch is rolled out by one cycle at a time. While another running cycle holds some
   * of this one's pairs, the cycle waits queued (and says behind whom), checking again every
   * HOST_QUEUE_POLL; a cancel ends the wait. True when it was cancelled.
   */
  const queueForHosts = async (): Promise<boolean> => {
    let behind: string | null = null;
    for (;;) {
      const holder = await acts.claimHosts({ cycleId });
      if (!holder) return false;
      if (holder.cycleId !== behind)
        await enter(
          'deployment',
          'queued',
          `queued behind cycle ${holder.cycleId} (phase ${holder.phase}), which holds ${holder.pairs} of its host × patch pair(s): ${holder.hostnames.join(', ')}`,
        );
      behind = holder.cycleId;
      if (await condition(() => control.cancelled(), HOST_QUEUE_POLL)) return true;
    }
  };

  await enter('scoping');
  const scope = await acts.scopeCycle({ cycleId });

  if (scope.stagingTargets > 0) {
    await enter('testing', 'running', `testing on ${scope.stagingTargets} staging target(s)`);
    const testing = await executeChild(testingWorkflow, {
      workflowId: phaseWorkflowId(cycleId, 'testing'),
      args: [{ cycleId, timeouts, policy: policy.deployment }],
    });
    rings.push(testing.outcome);
    if (!testing.passed)
      return finish('halted', {
        scope,
        testing: testing.outcome,
        ...(testing.checks ? { stagingChecks: testing.checks.results } : {}),
        reason:
          testing.checks && !testing.checks.passed
            ? `the staging group failed its checks (${describeStagingChecks(testing.checks.results)}); no approval was requested`
            : 'the patch failed on the staging group; no approval was requested',
      });
  }

  await enter('approval', 'awaiting_approval', 'awaiting CAB approval');
  const approvers = await acts.loadApprovers({ cycleId });
  const approval = await executeChild(approvalWorkflow, {
    workflowId: approvalWorkflowId(cycleId),
    args: [{ cycleId, requester: input.requester, approvers, policy: policy.approval, timeouts }],
  });
  if (approval.outcome === 'withdrawn') {
    const { by, reason } = approval.withdrawal!;
    return finish('cancelled', { scope, approval, reason: `withdrawn by ${by}${reason ? `: ${reason}` : ''}` });
  }
  if (approval.outcome !== 'approved') return finish(approval.outcome, { scope, approval });
  // Approve now, run in the window: the approval names the earliest time deployment may start.
  if (
    patched(patches.approveNowRunInWindow) &&
    (await control.holdUntil(approval.notBefore, (note) => enter('approval', 'scheduled', note)))
  ) {
    return finish('cancelled', { scope, approval, reason: control.cancelReason() });
  }

  if (patched(patches.hostsClaimedBeforeDeployment) && (await queueForHosts())) {
    return finish('cancelled', { scope, approval, reason: control.cancelReason() });
  }

  await enter('deployment');
  const deployment: DeploymentResult = await control.controlled(
    await startChild(deploymentWorkflow, {
      workflowId: phaseWorkflowId(cycleId, 'deployment'),
      args: [
        {
          cycleId,
          timeouts,
          rings: scope.rings,
          policy: policy.deployment,
          ...(approval.notAfter ? { notAfter: approval.notAfter } : {}),
        },
      ],
    }),
  );
  rings.push(...deployment.rings);

  await enter('verification');
  const verification: VerificationOutcome = await executeChild(verificationWorkflow, {
    workflowId: phaseWorkflowId(cycleId, 'verification'),
    args: [{ cycleId, timeouts }],
  });

  await enter('reporting');
  const failures = rings.reduce((n, r) => n + r.failed + r.unreachable, 0);
  const final: CycleStatus = control.cancelled()
    ? 'cancelled'
    : deployment.halted
      ? 'halted'
      : failures > 0 || verification.nonCompliant > 0
        ? 'completed_with_failures'
        : 'completed';
  return finish(final, {
    scope,
    approval,
    rings,
    verification,
    ...(deployment.haltReason ? { reason: deployment.haltReason } : {}),
    ...(deployment.rollbacks?.length ? { rollbacks: deployment.rollbacks } : {}),
  });
}
