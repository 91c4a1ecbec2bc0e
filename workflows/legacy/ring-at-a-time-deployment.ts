import { hostActivities, recordActivities } from '../activity-options.ts';
import { installRingGate } from '../cycle-control.ts';
import type { DeploymentInput, DeploymentResult } from '../deployment.ts';
import { ringBreachesThreshold } from '../phases.ts';
import type { RingOutcome } from '../types.ts';

/** The deployment as it ran before the rollout engine: whole rings, one threshold, no windows. Kept for replay. */
export async function ringAtATimeDeployment(input: DeploymentInput): Promise<DeploymentResult> {
  const hosts = hostActivities(input.timeouts);
  const records = recordActivities(input.timeouts);
  const rings: RingOutcome[] = [];
  const gate = installRingGate();
  for (const plan of [...input.rings].sort((a, b) => a.order - b.order)) {
    if (await gate.cancelledBeforeNextRing()) return { rings, halted: true, haltReason: gate.reason() };
    await records.setCycleState({
      cycleId: input.cycleId,
      phase: 'deployment',
      status: 'running',
      note: `deploying ring ${plan.ring} (${plan.targets} targets)`,
    });
    const outcome = await hosts.deployRing({ cycleId: input.cycleId, ring: plan.ring, phase: 'deployment' });
    rings.push(outcome);
    if (ringBreachesThreshold(outcome, input.policy)) {
      const failed = outcome.failed + outcome.unreachable;
      return {
        rings,
        halted: true,
        haltReason: `ring ${plan.ring}: ${failed} of ${outcome.total} hosts failed, over the ${input.policy.maxFailedPercent}% threshold; later rings were not touched`,
      };
    }
  }
  return { rings, halted: false };
}
