import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  ConnectionCheck,
  DeployRequest,
  DeployTarget,
  HostResult,
  PatchDeployer,
  PatchRef,
} from '../../integrations/contract/index.ts';

/**
 * What a connector's test gives the contract: a deployer talking to a fresh vendor system (an
 * emulator, or the real thing), and a way to look at the hosts behind it without the deployer.
 */
export interface PatchDeployerHarness {
  deployer: PatchDeployer;
  /** Known, reachable hosts that do not have the patch yet (at least two). */
  targets: DeployTarget[];
  patch: PatchRef;
  /** A known host on which installing the patch fails. */
  failingTarget?: DeployTarget | undefined;
  /** Whether the patch is on the host now, read from the vendor system directly. */
  readInstalledState(hostname: string): Promise<boolean>;
  /** Counts changes made to hosts (installs, uninstalls); a no-op deployment must leave it unchanged. */
  countHostChanges?(): Promise<number>;
  /** The connector's testConnection; the connection test is skipped without it. */
  testConnection?(): Promise<ConnectionCheck>;
  /** The same connector configured with a wrong password or token. */
  testConnectionWithBadCredentials?(): Promise<ConnectionCheck>;
  /** `unsupported`: the vendor cannot take a patch off a host (ConfigMgr); rollback must then say so per host and change nothing. */
  rollback?: 'reverts' | 'unsupported';
  /** Stops the emulator behind the deployer, if any. */
  close?(): Promise<void>;
}

const unknownTarget: DeployTarget = { assetId: 'asset-unknown', hostname: 'never-seen-host-7f3a' };

/**
 * The PatchDeployer contract every deployer passes against its emulator: outcomes per host,
 * idempotency, verification, failure isolation, rollback, and one result per requested host.
 * Each test starts from a fresh harness.
 */
export function describePatchDeployerContract(name: string, setup: () => Promise<PatchDeployerHarness>): void {
  describe(`PatchDeployer contract: ${name}`, () => {
    let h: PatchDeployerHarness;
    let seq = 0;
    const request = (targets: DeployTarget[], extra: Partial<DeployRequest> = {}): DeployRequest => ({
      cycleId: `contract-${++seq}`,
      ring: 'ring1',
      patch: h.patch,
      targets,
      ...extra,
    });
    const outcomes = (results: HostResult[]) => Object.fromEntries(results.map((r) => [r.hostname, r.outcome]));
    const installed = async (targets: DeployTarget[]) =>
      Promise.all(targets.map((t) => h.readInstalledState(t.hostname)));

    beforeEach(async () => {
      h = await setup();
      expect(h.targets.length).toBeGreaterThanOrEqual(2);
    });
    afterEach(async () => h.close?.());

    function expectOneResultPerTarget(results: HostResult[], targets: DeployTarget[]) {
      expect(results.map((r) => r.hostname).sort()).toEqual(targets.map((t) => t.hostname).sort());
      for (const r of results) expect(typeof r.message).toBe('string');
    }

    it('deploys the patch to every target', async () => {
      expect(await installed(h.targets)).toEqual(h.targets.map(() => false));
      const results = await h.deployer.deploy(request(h.targets));
      expectOneResultPerTarget(results, h.targets);
      expect(outcomes(results)).toEqual(Object.fromEntries(h.targets.map((t) => [t.hostname, 'patched'])));
      expect(await installed(h.targets)).toEqual(h.targets.map(() => true));
    });

    it('is idempotent: a second deployment reports already_compliant and changes nothing', async () => {
      await h.deployer.deploy(request(h.targets));
      const changes = await h.countHostChanges?.();
      const again = await h.deployer.deploy(request(h.targets));
      expectOneResultPerTarget(again, h.targets);
      expect(new Set(again.map((r) => r.outcome))).toEqual(new Set(['already_compliant']));
      expect(await installed(h.targets)).toEqual(h.targets.map(() => true));
      if (h.countHostChanges) expect(await h.countHostChanges()).toBe(changes);
    });

    it('verifies: non-compliant before, compliant after, without changing anything', async () => {
      const before = await h.deployer.verify(request(h.targets));
      expectOneResultPerTarget(before, h.targets);
      for (const r of before) expect(r.outcome).toBe('failed');
      expect(await installed(h.targets)).toEqual(h.targets.map(() => false));
      await h.deployer.deploy(request(h.targets));
      const after = await h.deployer.verify(request(h.targets));
      expect(new Set(after.map((r) => r.outcome))).toEqual(new Set(['already_compliant']));
    });

    it('a dry run reports what would change and changes nothing', async () => {
      const changes = await h.countHostChanges?.();
      const results = await h.deployer.deploy(request(h.targets, { dryRun: true }));
      expectOneResultPerTarget(results, h.targets);
      for (const r of results) expect(r.outcome).toBe('skipped');
      expect(await installed(h.targets)).toEqual(h.targets.map(() => false));
      if (h.countHostChanges) expect(await h.countHostChanges()).toBe(changes);
    });

    it('isolates a failing host: it is failed with a message, the others are patched', async (ctx) => {
      if (!h.failingTarget) return ctx.skip();
      const all = [...h.targets, h.failingTarget];
      const results = await h.deployer.deploy(request(all));
      expectOneResultPerTarget(results, all);
      const failing = results.find((r) => r.hostname === h.failingTarget!.hostname)!;
      expect(failing.outcome).toBe('failed');
      expect(failing.message.length).toBeGreaterThan(0);
      for (const t of h.targets) expect(results.find((r) => r.hostname === t.hostname)?.outcome).toBe('patched');
      expect(await h.readInstalledState(h.failingTarget.hostname)).toBe(false);
    });

    it('names an unknown host as unreachable or failed, never drops it', async () => {
      const all = [...h.targets, unknownTarget];
      const results = await h.deployer.deploy(request(all));
      expectOneResultPerTarget(results, all);
      const unknown = results.find((r) => r.hostname === unknownTarget.hostname)!;
      expect(['unreachable', 'failed']).toContain(unknown.outcome);
      expect(unknown.message.length).toBeGreaterThan(0);
      for (const t of h.targets) expect(results.find((r) => r.hostname === t.hostname)?.outcome).toBe('patched');
    });

    it('names each host once even when the request repeats it', async () => {
      const results = await h.deployer.deploy(request([...h.targets, h.targets[0]!]));
      expectOneResultPerTarget(results, h.targets);
    });

    it('rolls hosts back to their state before the deployment', async () => {
      await h.deployer.deploy(request(h.targets));
      expect(await installed(h.targets)).toEqual(h.targets.map(() => true));
      const results = await h.deployer.rollback(request(h.targets));
      expectOneResultPerTarget(results, h.targets);
      if (h.rollback === 'unsupported') {
        for (const r of results) {
          expect(r.outcome).toBe('skipped');
          expect(r.message.length).toBeGreaterThan(0);
        }
        expect(await installed(h.targets)).toEqual(h.targets.map(() => true));
        return;
      }
      for (const r of results) expect(r.outcome).toBe('patched');
      expect(await installed(h.targets)).toEqual(h.targets.map(() => false));
      const again = await h.deployer.rollback(request(h.targets));
      expect(new Set(again.map((r) => r.outcome))).toEqual(new Set(['already_compliant']));
    });

    it('returns nothing for no targets', async () => {
      expect(await h.deployer.deploy(request([]))).toEqual([]);
    });

    it('testConnection succeeds against the system and fails with bad credentials', async (ctx) => {
      if (!h.testConnection) return ctx.skip();
      const ok = await h.testConnection();
      expect(ok.ok, ok.message).toBe(true);
      if (h.testConnectionWithBadCredentials) {
        const bad = await h.testConnectionWithBadCredentials();
        expect(bad.ok).toBe(false);
        expect(bad.message.length).toBeGreaterThan(0);
      }
    });
  });
}
