import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployRequest } from '../../integrations/contract/index.ts';
import { InputError, NotAllowedError, NotFoundError, UpstreamError } from '../../kernel/errors.ts';
import { sccmConnector } from '../../integrations/sccm/index.ts';
import { describeInventorySourceContract } from '../contract/inventory-source.contract.ts';
import { describePatchDeployerContract } from '../contract/patch-deployer.contract.ts';
import { SccmEmulator } from '../emulators/sccm.ts';
import { instantiate } from '../helpers/connectors.ts';

const credentials = { username: 'CORP\\svc-patchflow', password: 'pa55word' };
const patch = { patchId: 'p-kb5031356', title: '2023-10 Cumulative Update', vendorRef: 'KB5031356' };

async function startSccm(evaluationsBeforeInstall = 1): Promise<SccmEmulator> {
  const emu = await new SccmEmulator({ ...credentials, evaluationsBeforeInstall }).start();
  emu.addUpdate('5031356', '2023-10 Cumulative Update for Windows Server 2022 for x64-based Systems (KB5031356)');
  emu.addCollection('PS100012', 'Patchflow ring1');
  emu.addCollection('PS100013', 'Web servers');
  emu.addDevice('web01', { ip: '10.1.0.11', collections: ['PS100012', 'PS100013'] });
  emu.addDevice('web02', { ip: '10.1.0.12', collections: ['PS100012', 'PS100013'] });
  emu.addDevice('db01', { ip: '10.1.0.21', collections: ['PS100012'], failInstall: true });
  emu.addDevice('app01', { ip: '10.1.0.31' });
  return emu;
}

function connectorFor(emu: SccmEmulator, overrides: Record<string, unknown> = {}) {
  return instantiate(sccmConnector, {
    url: emu.url,
    ...credentials,
    collections: { ring1: 'PS100012' },
    pollInterval: '5ms',
    maxPollInterval: '20ms',
    installTimeout: '5s',
    requestTimeout: '5s',
    ...overrides,
  });
}

describePatchDeployerContract('sccm', async () => {
  const emu = await startSccm();
  const connector = connectorFor(emu);
  return {
    deployer: connector.deployer,
    targets: [
      { assetId: 'a1', hostname: 'web01.corp.example' },
      { assetId: 'a2', hostname: 'WEB02' },
    ],
    failingTarget: { assetId: 'a3', hostname: 'db01' },
    patch,
    rollback: 'unsupported',
    readInstalledState: async (hostname) => emu.isInstalled(hostname, '5031356'),
    countHostChanges: async () => emu.hostChanges,
    testConnection: () => connector.testConnection(),
    testConnectionWithBadCredentials: () => connectorFor(emu, { password: 'wrong' }).testConnection(),
    close: () => emu.close(),
  };
});

describeInventorySourceContract('sccm', async () => {
  const emu = await startSccm();
  return {
    inventory: connectorFor(emu).inventory,
    expected: [
      { hostname: 'WEB01', ips: ['10.1.0.11'], patchGroup: 'ring1' },
      { hostname: 'WEB02', ips: ['10.1.0.12'], patchGroup: 'ring1' },
      { hostname: 'DB01', ips: ['10.1.0.21'], patchGroup: 'ring1' },
      { hostname: 'APP01', ips: ['10.1.0.31'] },
    ],
    close: () => emu.close(),
  };
});

describe('sccm connector', () => {
  let emu: SccmEmulator;
  const request = (hostnames: string[], extra: Partial<DeployRequest> = {}): DeployRequest => ({
    cycleId: 'c-7',
    ring: 'ring1',
    patch,
    targets: hostnames.map((h, i) => ({ assetId: `a${i}`, hostname: h })),
    ...extra,
  });
  beforeEach(async () => {
    emu = await startSccm();
  });
  afterEach(() => emu.close());

  it('creates one software update group and one deployment to the ring collection, and reuses them', async () => {
    const connector = connectorFor(emu);
    await connector.deployer.deploy(request(['web01']));
    await connector.deployer.deploy(request(['web02']));
    expect(emu.updateGroups).toEqual([expect.objectContaining({ LocalizedDisplayName: 'Patchflow KB5031356' })]);
    expect(emu.assignments).toEqual([
      expect.objectContaining({
        AssignmentName: 'Patchflow KB5031356 ring1',
        TargetCollectionID: 'PS100012',
        AssignmentAction: 2,
      }),
    ]);
  });

  it('skips a device outside the ring collection instead of deploying to it', async () => {
    const results = await connectorFor(emu).deployer.deploy(request(['web01', 'app01']));
    expect(results.map((r) => r.outcome)).toEqual(['patched', 'skipped']);
    expect(results[1]?.message).toMatch(/not a member of collection PS100012/);
    expect(emu.isInstalled('app01', '5031356')).toBe(false);
  });

  it('rollback removes the deployment and says the update stays installed', async () => {
    await connectorFor(emu).deployer.deploy(request(['web01']));
    const [result] = await connectorFor(emu).deployer.rollback(request(['web01']));
    expect(result).toMatchObject({ outcome: 'skipped', message: expect.stringMatching(/cannot uninstall/) });
    expect(emu.assignments).toEqual([]);
  });

  it('names an unknown article and a ring without collection as errors no retry fixes', async () => {
    await expect(
      connectorFor(emu).deployer.deploy(request(['web01'], { patch: { ...patch, vendorRef: 'KB0000001' } })),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(connectorFor(emu).deployer.deploy(request(['web01'], { ring: 'ring7' }))).rejects.toBeInstanceOf(
      InputError,
    );
  });

  it('quotes names in OData filters', async () => {
    const results = await connectorFor(emu).deployer.deploy(request(["web01' or Name ne '"]));
    expect(results[0]?.outcome).toBe('unreachable');
    expect(emu.requests.some((r) => decodeURIComponent(r.path).includes("Name eq 'web01'' or Name ne '''"))).toBe(true);
  });

  it('rejects bad credentials as not allowed and a 503 as a retryable upstream failure', async () => {
    const denied = await connectorFor(emu, { password: 'nope' })
      .deployer.deploy(request(['web01']))
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(NotAllowedError);
    emu.failNextRequests(503, 1);
    const unavailable = await connectorFor(emu)
      .deployer.deploy(request(['web01']))
      .catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(UpstreamError);
    expect((unavailable as UpstreamError).retryable).toBe(true);
  });

  it('stops waiting for devices when the signal aborts', async () => {
    const slow = await startSccm(1000);
    try {
      const controller = new AbortController();
      const pending = connectorFor(slow).deployer.deploy(
        request(['web01'], {
          signal: controller.signal,
          onProgress: (n) => n.includes('devices installed') && controller.abort(),
        }),
      );
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      await slow.close();
    }
  });
});
