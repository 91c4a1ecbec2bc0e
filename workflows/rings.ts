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

/** How many hosts must have been tried before a percentage is judged against them alone. */
export const DEFAULT_MIN_SAMPLE = 10;

/**
 * Whether the failures so far break a limit. A count is absolute. A percentage is of the hosts
 * attempted, once at least `minSample` of them (or the whole population, if smaller) were tried;
 * before that it is of the whole population, so that waiting for a sample never lets through what
 * measuring against the ring would have stopped.
 */
export function breaksLimit(
  limit: FailureLimit,
  counts: { failed: number; attempted: number; population: number },
  minSample: number,
): boolean {
  const { failed, attempted, population } = counts;
  if ('count' in limit) return failed > limit.count;
  return attempted >= Math.min(minSample, population)
    ? exceeds(limit, failed, attempted)
    : exceeds(limit, failed, population);
}

export function describeLimit(limit: FailureLimit): string {
  return 'count' in limit ? `${limit.count}-host` : `${limit.percent}%`;
}

export function batchesOf<T>(items: T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}
