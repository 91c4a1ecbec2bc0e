import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { awxConnector } from '../../integrations/awx/index.ts';
import type { DeployRequest } from '../../integrations/contract/index.ts';
import { InputError, NotAllowedError, UpstreamError } from '../../kernel/errors.ts';
import { describePatchDeployerContract } from '../contract/patch-deployer.contract.ts';
import { AwxEmulator, type AwxEmulatorOptions } from '../emulators/awx.ts';
import { instantiate } from '../helpers/connectors.ts';

const token = 'pf-token-1234';
const patch = { patchId: 'p-openssl', title: 'openssl 3.0.13', vendorRef: 'openssl-3.0.13', targetVersion: '3.0.13' };

async function startAwx(opts: Partial<AwxEmulatorOptions> = {}): Promise<AwxEmulator> {
  const emu = await new AwxEmulator({ token, jobTemplateId: 7, readsToFinish: 2, ...opts }).start();
  for (const name of ['web01', 'web02', 'web03', 'app01', 'app02']) emu.addHost(name);
  emu.addHost('db01', { failInstall: true });
  emu.addHost('dark01', { unreachable: true });
  return emu;
}

function connectorFor(emu: AwxEmulator, overrides: Record<string, string | number> = {}) {
  return instantiate(awxConnector, {
    url: emu.url,
    token,
    jobTemplateId: 7,
    pollInterval: '5ms',
    maxPollInterval: '20ms',
    jobTimeout: '5s',
    requestTimeout: '5s',
    ...overrides,
  });
}

describePatchDeployerContract('awx', async () => {
  const emu = await startAwx();
  const connector = connectorFor(emu);
  return {
    deployer: connector.deployer,
    targets: [
      { assetId: 'a1', hostname: 'web01' },
      { assetId: 'a2', hostname: 'web02' },
    ],
    failingTarget: { assetId: 'a3', hostname: 'db01' },
    patch,
    readInstalledState: async (hostname) => emu.isInstalled(hostname, patch.vendorRef),
    countHostChanges: async () => emu.hostChanges,
    testConnection: () => connector.testConnection(),
    testConnectionWithBadCredentials: () => connectorFor(emu, { token: 'wrong' }).testConnection(),
    close: () => emu.close(),
  };
});

describe('awx connector', () => {
  let emu: AwxEmulator;
  const request = (hostnames: string[], extra: Partial<DeployRequest> = {}): DeployRequest => ({
    cycleId: 'c-42',
    ring: 'ring1',
    patch,
    targets: hostnames.map((h, i) => ({ assetId: `a${i}`, hostname: h })),
    ...extra,
  });
  beforeEach(async () => {
    emu = await startAwx();
  });
  afterEach(() => emu.close());

  it('launches the template once with the targets as limit and Patchflow variables', async () => {
    await connectorFor(emu, {}).deployer.deploy(request(['web01', 'web02']));
    expect(emu.launches).toEqual([
      {
        limit: 'web01,web02',
        job_type: undefined,
        extra_vars: {
          patchflow_action: 'deploy',
          patchflow_cycle_id: 'c-42',
          patchflow_ring: 'ring1',
          patchflow_patch_id: 'p-openssl',
          patchflow_vendor_ref: 'openssl-3.0.13',
          patchflow_target_version: '3.0.13',
          patchflow_reboot: 'if-required',
        },
      },
    ]);
  });

  it('reads host summaries across pages and reports unreachable hosts with the runner message', async () => {
    await emu.close();
    emu = await startAwx({ pageSize: 2 });
    const results = await connectorFor(emu).deployer.deploy(request(['web01', 'web02', 'web03', 'app01', 'dark01']));
    expect(results.map((r) => r.outcome)).toEqual(['patched', 'patched', 'patched', 'patched', 'unreachable']);
    expect(results[4]?.message).toMatch(/Failed to connect/);
    expect(results[0]?.evidence).toMatchObject({ awxJobId: expect.any(Number) });
  });

  it('refuses a template that does not prompt for the limit, before launching anything', async () => {
    await emu.close();
    emu = await startAwx({ askLimit: false });
    await expect(connectorFor(emu).deployer.deploy(request(['web01']))).rejects.toBeInstanceOf(InputError);
    expect(emu.launches).toEqual([]);
  });

  it('never puts a hostname that is an Ansible pattern into the limit', async () => {
    const results = await connectorFor(emu).deployer.deploy(request(['web01', 'all:!db01', 'web*']));
    expect(results.map((r) => r.outcome)).toEqual(['patched', 'failed', 'failed']);
    expect(emu.launches[0]?.limit).toBe('web01');
  });

  it('rejects a bad token as not allowed, which no retry fixes', async () => {
    const err = await connectorFor(emu, { token: 'wrong' })
      .deployer.deploy(request(['web01']))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAllowedError);
    expect((err as NotAllowedError).retryable).toBe(false);
  });

  it('classifies a 502 from the controller as a retryable upstream failure', async () => {
    emu.failNextRequests(502, 1);
    const err = await connectorFor(emu)
      .deployer.deploy(request(['web01']))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
  });

  it('cancels the AWX job when the signal aborts, and the hosts are left alone', async () => {
    await emu.close();
    emu = await startAwx({ readsToFinish: 1000 });
    const controller = new AbortController();
    const pending = connectorFor(emu).deployer.deploy(
      request(['web01'], {
        signal: controller.signal,
        onProgress: (note) => note.includes('running') && controller.abort(),
      }),
    );
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(emu.cancels).toHaveLength(1);
    expect(emu.jobStatus(emu.cancels[0]!)).toBe('canceled');
    expect(emu.isInstalled('web01', patch.vendorRef)).toBe(false);
  });

  it('cancels a job that outlives jobTimeout and reports its hosts failed', async () => {
    await emu.close();
    emu = await startAwx({ readsToFinish: 1000 });
    const results = await connectorFor(emu, { jobTimeout: '100ms' }).deployer.deploy(request(['web01']));
    expect(results[0]).toMatchObject({
      outcome: 'failed',
      message: expect.stringMatching(/did not finish within 100ms/),
    });
    expect(emu.cancels).toHaveLength(1);
  });
});
