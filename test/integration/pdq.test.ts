import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployRequest } from '../../integrations/contract/index.ts';
import { NotAllowedError, NotFoundError, UpstreamError } from '../../kernel/errors.ts';
import { pdqConnector } from '../../integrations/pdq/index.ts';
import { describePatchDeployerContract } from '../contract/patch-deployer.contract.ts';
import { PdqEmulator, type PdqEmulatorOptions } from '../emulators/winrm-pdq.ts';
import { instantiate } from '../helpers/connectors.ts';

const credentials = { username: 'CORP\\svc-pdq', password: 'hunter2!' };
const patch = {
  patchId: 'p-7zip',
  title: '7-Zip 23.01',
  vendorRef: '7-Zip 23.01 (x64) "silent"',
  targetVersion: '23.01',
};

async function startPdq(opts: Partial<PdqEmulatorOptions> = {}): Promise<PdqEmulator> {
  const emu = await new PdqEmulator({ ...credentials, readsToFinish: 2, ...opts }).start();
  emu.addPackage(patch.vendorRef, 'install', '7zip-23.01');
  emu.addPackage(`${patch.vendorRef} - Verify`, 'verify', '7zip-23.01');
  emu.addPackage(`${patch.vendorRef} - Uninstall`, 'uninstall', '7zip-23.01');
  for (const h of ['WS-0101', 'WS-0102', 'WS-0103']) emu.addHost(h);
  emu.addHost('WS-0666', { failInstall: true });
  emu.addHost('LAPTOP-07', { offline: true });
  return emu;
}

function connectorFor(emu: PdqEmulator, overrides: Record<string, string> = {}) {
  return instantiate(pdqConnector, {
    endpoint: emu.winrm.url,
    ...credentials,
    pollInterval: '5ms',
    maxPollInterval: '20ms',
    deploymentTimeout: '5s',
    requestTimeout: '5s',
    ...overrides,
  });
}

describePatchDeployerContract('pdq', async () => {
  const emu = await startPdq();
  const connector = connectorFor(emu);
  return {
    deployer: connector.deployer,
    targets: [
      { assetId: 'a1', hostname: 'WS-0101' },
      { assetId: 'a2', hostname: 'ws-0102' },
    ],
    failingTarget: { assetId: 'a3', hostname: 'WS-0666' },
    patch,
    readInstalledState: async (hostname) => emu.isInstalled(hostname, '7zip-23.01'),
    countHostChanges: async () => emu.hostChanges,
    testConnection: () => connector.testConnection(),
    testConnectionWithBadCredentials: () => connectorFor(emu, { password: 'wrong' }).testConnection(),
    close: () => emu.close(),
  };
});

describe('pdq connector', () => {
  let emu: PdqEmulator;
  const request = (hostnames: string[], extra: Partial<DeployRequest> = {}): DeployRequest => ({
    cycleId: 'c-9',
    ring: 'ring1',
    patch,
    targets: hostnames.map((h, i) => ({ assetId: `a${i}`, hostname: h })),
    ...extra,
  });
  beforeEach(async () => {
    emu = await startPdq();
  });
  afterEach(() => emu.close());

  it('passes the package name and targets to PDQDeploy.exe as exact arguments', async () => {
    await connectorFor(emu).deployer.deploy(request(['WS-0101', 'WS-0102']));
    expect(emu.deployCommands).toEqual([['Deploy', '-Package', patch.vendorRef, '-Targets', 'WS-0101', 'WS-0102']]);
    expect(emu.winrm.openShellCount()).toBe(0);
  });

  it('reports an offline host as unreachable and refuses a hostname that is not plain', async () => {
    const results = await connectorFor(emu).deployer.deploy(request(['WS-0101', 'LAPTOP-07', 'WS-0102 -Package Evil']));
    expect(results.map((r) => r.outcome)).toEqual(['patched', 'unreachable', 'failed']);
    expect(results[1]?.message).toMatch(/offline/);
    expect(emu.deployCommands[0]).toEqual(['Deploy', '-Package', patch.vendorRef, '-Targets', 'WS-0101', 'LAPTOP-07']);
  });

  it('names a package PDQ does not have, although PDQDeploy.exe exits 0', async () => {
    await expect(
      connectorFor(emu).deployer.deploy(request(['WS-0101'], { patch: { ...patch, vendorRef: 'No Such Package' } })),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('rejects bad credentials as not allowed and a 503 as a retryable upstream failure', async () => {
    await expect(connectorFor(emu, { password: 'wrong' }).deployer.deploy(request(['WS-0101']))).rejects.toBeInstanceOf(
      NotAllowedError,
    );
    emu.winrm.failNextRequests(503, 1);
    const err = await connectorFor(emu)
      .deployer.deploy(request(['WS-0101']))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
  });

  it('stops following a deployment when the signal aborts, and closes its shells', async () => {
    await emu.close();
    emu = await startPdq({ readsToFinish: 1000 });
    const controller = new AbortController();
    const pending = connectorFor(emu).deployer.deploy(
      request(['WS-0101'], {
        signal: controller.signal,
        onProgress: (n) => n.includes('Running') && controller.abort(),
      }),
    );
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(emu.winrm.openShellCount()).toBe(0);
  });
});
