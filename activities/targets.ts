import type { RingTarget } from '../db/repositories/cycles.ts';
import { deployerFor, type DeployerRouting } from '../app/deployer-routing.ts';
import type { DeployTarget, HostResult, PatchRef } from '../integrations/contract/index.ts';

/** Groups targets by patch, since a deployer call installs one patch on many hosts. */
export function byPatch(targets: RingTarget[]): { patch: PatchRef; targets: RingTarget[] }[] {
  const groups = new Map<string, { patch: PatchRef; targets: RingTarget[] }>();
  for (const t of targets) {
    const g = groups.get(t.patchId) ?? {
      patch: { patchId: t.patchId, title: t.patchTitle, vendorRef: t.vendorRef, targetVersion: t.targetVersion },
      targets: [],
    };
    g.targets.push(t);
    groups.set(t.patchId, g);
  }
  return [...groups.values()];
}

/**
 * Groups targets by the deployer that patches them (deployer routing), then by patch: one call
 * per deployer × patch, each host through its own deployer.
 */
export function byDeployerAndPatch(
  targets: RingTarget[],
  routing: { routing?: DeployerRouting | undefined; deployerId: string },
): { deployerId: string; patch: PatchRef; targets: RingTarget[] }[] {
  const byDeployer = new Map<string, RingTarget[]>();
  for (const t of targets) {
    const id = deployerFor(t, routing.routing, routing.deployerId);
    byDeployer.set(id, [...(byDeployer.get(id) ?? []), t]);
  }
  return [...byDeployer].flatMap(([deployerId, group]) => byPatch(group).map((g) => ({ deployerId, ...g })));
}

export const deployTargets = (targets: RingTarget[]): DeployTarget[] =>
  targets.map((t) => ({ assetId: t.assetId, hostname: t.hostname, address: t.address, platform: t.platform }));

export function resultFor(results: HostResult[], hostname: string): HostResult {
  return (
    results.find((r) => r.hostname === hostname) ?? {
      hostname,
      outcome: 'failed',
      message: 'the deployer returned no result for this host',
    }
  );
}
