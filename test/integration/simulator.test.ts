import { describe, expect, it } from 'vitest';
import type { DeployRequest } from '../../integrations/contract/index.ts';
import { simulatorConfigSchema } from '../../integrations/simulator/config.ts';
import { SimulatedFleet } from '../../integrations/simulator/fleet.ts';
import { simulatorConnector } from '../../integrations/simulator/index.ts';
import { describePatchDeployerContract } from '../contract/patch-deployer.contract.ts';
import { instantiate } from '../helpers/connectors.ts';

const patch = { patchId: 'p1', title: 'openssl 3.0.13', vendorRef: 'openssl-3.0.13' };

describePatchDeployerContract('simulator', async () => {
  const fleet = new SimulatedFleet(
    simulatorConfigSchema.parse({
      seed: 7,
      maxLatencyMs: 3,
      knownHosts: ['sim-1', 'sim-2', 'sim-bad'],
      failHosts: ['sim-bad'],
    }),
  );
  return {
    deployer: fleet,
    targets: [
      { assetId: 'a1', hostname: 'sim-1' },
      { assetId: 'a2', hostname: 'sim-2' },
    ],
    failingTarget: { assetId: 'a3', hostname: 'sim-bad' },
    patch,
    readInstalledState: async (hostname) => fleet.isInstalled(hostname, patch.vendorRef),
    countHostChanges: async () => fleet.changes,
    testConnection: () => instantiate(simulatorConnector, {}).testConnection(),
  };
});

describe('fleet simulator', () => {
  const fleetOf = (size: number): DeployRequest => ({
    cycleId: 'c',
    ring: 'r',
    patch,
    targets: Array.from({ length: size }, (_, i) => ({ assetId: `a${i}`, hostname: `sim-${i}` })),
  });

  it('is deterministic: the same seed fails the same hosts, another seed others', async () => {
    const config = { seed: 42, failureRate: 0.05, unreachableRate: 0.01, concurrency: 500 };
    const run = async (seed: number) =>
      (await new SimulatedFleet(simulatorConfigSchema.parse({ ...config, seed })).deploy(fleetOf(2000)))
        .filter((r) => r.outcome !== 'patched')
        .map((r) => `${r.hostname}:${r.outcome}`);
    const first = await run(42);
    expect(await run(42)).toEqual(first);
    expect(await run(43)).not.toEqual(first);
    // 5 % failures plus 1 % unreachable of 2000 hosts, within sampling noise.
    expect(first.length).toBeGreaterThan(70);
    expect(first.length).toBeLessThan(170);
  });

  it('deploys to ten thousand hosts concurrently, naming each once and reporting progress', async () => {
    const fleet = new SimulatedFleet(
      simulatorConfigSchema.parse({ seed: 1, minLatencyMs: 1, maxLatencyMs: 5, failureRate: 0.01, concurrency: 1000 }),
    );
    const notes: string[] = [];
    const results = await fleet.deploy({ ...fleetOf(10_000), onProgress: (n) => notes.push(n) });
    expect(new Set(results.map((r) => r.hostname)).size).toBe(10_000);
    expect(results.filter((r) => r.outcome === 'patched').length).toBeGreaterThan(9800);
    expect(notes.at(-1)).toBe('10000/10000 simulated hosts done');
  });

  it('stops when the signal aborts', async () => {
    const fleet = new SimulatedFleet(
      simulatorConfigSchema.parse({ minLatencyMs: 20, maxLatencyMs: 20, concurrency: 1 }),
    );
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    await expect(fleet.deploy({ ...fleetOf(100), signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('refuses a latency range that ends before it starts', () => {
    expect(simulatorConfigSchema.safeParse({ minLatencyMs: 10, maxLatencyMs: 5 }).success).toBe(false);
  });
});
