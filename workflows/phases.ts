import { patched, sleep } from '@temporalio/workflow';
import { hostActivities, recordActivities } from './activity-options.ts';
import { patches } from './patches.ts';
import { asDuration, durationToMs } from './time.ts';
import type {
  ActivityTimeouts,
  DeploymentPolicy,
  RingOutcome,
  StagingCheckReport,
  VerificationOutcome,
} from './types.ts';

export interface PhaseInput {
  cycleId: string;
  timeouts: ActivityTimeouts;
}

/** A ring halts the rollout when its failed share exceeds the policy's threshold. */
export function ringBreachesThreshold(outcome: RingOutcome, policy: DeploymentPolicy): boolean {
  if (outcome.total === 0) return false;
  return ((outcome.failed + outcome.unreachable) / outcome.total) * 100 > policy.maxFailedPercent;
}

export interface TestingResult {
  outcome: RingOutcome;
  passed: boolean;
  /** The staging checks' report, when the policy has any and the deployment itself passed. */
  checks?: StagingCheckReport | undefined;
}

/**
 * Testing: the patch goes to the staging group first. With staging checks in the policy, their
 * endpoints are timed before the patch, and after the deployment and a soak every functional
 * and performance check runs on every staging host; a failed one stops the cycle before the CAB
 * is asked, and the approvers see every result on the card.
 */
export async function testingWorkflow(input: PhaseInput & { policy: DeploymentPolicy }): Promise<TestingResult> {
  const hosts = hostActivities(input.timeouts);
  const { cycleId } = input;
  const checks = input.policy.stagingChecks;
  const withChecks = checks !== undefined && patched(patches.stagingChecks);
  const baseline =
    withChecks && checks.performance.length ? await hosts.measureStagingBaseline({ cycleId, checks }) : {};
  const outcome = await hosts.deployRing({ cycleId, ring: 'staging', phase: 'testing' });
  if (ringBreachesThreshold(outcome, input.policy)) return { outcome, passed: false };
  if (!withChecks) return { outcome, passed: true };
  if (durationToMs(checks.soak) > 0) await sleep(asDuration(checks.soak));
  const report = await hosts.runStagingChecks({ cycleId, checks, baseline });
  return { outcome, passed: report.passed, checks: report };
}

/** Verification: ask every target whether it is now at the patch's target state. */
export async function verificationWorkflow(input: PhaseInput): Promise<VerificationOutcome> {
  return hostActivities(input.timeouts).verifyCycle({ cycleId: input.cycleId });
}

/** The post-patch review starts from the cycle's facts; collecting lessons learned builds on this record. */
export async function reviewWorkflow(input: PhaseInput): Promise<void> {
  await recordActivities(input.timeouts).recordReviewFacts({ cycleId: input.cycleId });
}
