/** Ring placement and failure limits: pure, shared by scoping, the deployment workflow and the dry-run plan. */
import type { DeploymentPolicy, FailureLimit, RingPolicy } from './types.ts';

/** The ring an asset of this criticality falls into; tiers no ring lists go to the last (most careful) ring. */
export function placeAsset(rings: RingPolicy[], criticality: number): { ring: string; order: number } {
  const index = rings.findIndex((r) => r.criticality.includes(criticality));
  const at = index >= 0 ? index : rings.length - 1;
  return { ring: rings[at]!.name, order: at + 1 };
}

/** The limit that applies to a ring: its own, or the policy's percentage. */
export function ringLimit(policy: DeploymentPolicy, ring: string): FailureLimit {
  return policy.rings.find((r) => r.name === ring)?.errorThreshold ?? { percent: policy.maxFailedPercent };
}

/** Over the limit, not at it: a 20 % threshold tolerates one failure in five. */
export function exceeds(limit: FailureLimit, failed: number, total: number): boolean {
  if ('count' in limit) return failed > limit.count;
  return total > 0 && (failed / total) * 100 > limit.percent;
}

export function describeLimit(limit: FailureLimit): string {
  return 'count' in limit ? `${limit.count}-host` : `${limit.percent}%`;
}

export function batchesOf<T>(items: T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}
