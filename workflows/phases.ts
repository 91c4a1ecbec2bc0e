import { hostActivities, recordActivities } from './activity-options.ts';
import type { ActivityTimeouts, DeploymentPolicy, RingOutcome, VerificationOutcome } from './types.ts';

export interface PhaseInput {
  cycleId: string;
  timeouts: ActivityTimeouts;
}

/** A ring halts the rollout when its failed share exceeds the policy's threshold. */
export function ringBreachesThreshold(outcome: RingOutcome, policy: DeploymentPolicy): boolean {
  if (outcome.total === 0) return false;
  return ((outcome.failed + outcome.unreachable) / outcome.total) * 100 > policy.maxFailedPercent;
}

/** Testing: the patch goes to the staging group first; its health checks are the functional test. */
export async function testingWorkflow(
  input: PhaseInput & { policy: DeploymentPolicy },
): Promise<{ outcome: RingOutcome; passed: boolean }> {
  const hosts = hostActivities(input.timeouts);
  const outcome = await hosts.deployRing({ cycleId: input.cycleId, ring: 'staging', phase: 'testing' });
  return { outcome, passed: !ringBreachesThreshold(outcome, input.policy) };
}

/** Verification: ask every target whether it is now at the patch's target state. */
export async function verificationWorkflow(input: PhaseInput): Promise<VerificationOutcome> {
  return hostActivities(input.timeouts).verifyCycle({ cycleId: input.cycleId });
}

/** The post-patch review starts from the cycle's facts; collecting lessons learned builds on this record. */
export async function reviewWorkflow(input: PhaseInput): Promise<void> {
  await recordActivities(input.timeouts).recordReviewFacts({ cycleId: input.cycleId });
}
