import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployRequest } from '../../integrations/contract/index.ts';
import { InputError, NotAllowedError, UpstreamError } from '../../kernel/errors.ts';
import { wsusConnector } from '../../integrations/wsus/index.ts';
import { describeInventorySourceContract } from '../contract/inventory-source.contract.ts';
import { describePatchDeployerContract } from '../contract/patch-deployer.contract.ts';
import { WsusEmulator, type WsusEmulatorOptions } from '../emulators/winrm-wsus.ts';
import { instantiate, readFixture } from '../helpers/connectors.ts';

const credentials = { username: 'CORP\\svc-patchflow', password: 'S3cret!' };
const patch = { patchId: 'p-kb5031356', title: '2023-10 Cumulative Update', vendorRef: 'KB5031356' };

/** The computer from the Get-WsusComputer documentation example, so that its name shape is real. */
function documentedComputer(): { name: string; os: string } {
  const row = readFixture('wsus/Get-WsusComputer.md.example1.txt').split('\n')[3]!;
  const [name, , os] = row.split(/\s{2,}/);
  return { name: name!.trim(), os: os!.trim() };
}

/** The "Security Updates" classification as Get-WsusClassification documents it. */
function securityClassification(): string {
  const line = readFixture('wsus/Get-WsusClassification.md.example1.txt')
    .split('\n')
    .find((l) => l.startsWith('Security Updates'))!;
  return line.split(/\s{2,}/)[0]!;
}

async function startWsus(opts: Partial<WsusEmulatorOptions> & { groups?: string[] } = {}): Promise<WsusEmulator> {
  const { groups, ...emulatorOptions } = opts;
  const emu = await new WsusEmulator({ ...credentials, ...emulatorOptions }).start();
  for (const g of groups ?? ['Patchflow ring1']) emu.addGroup(g);
  emu.addUpdate({
    title: '2023-10 Cumulative Update for Windows Server 2022 for x64-based Systems (KB5031364)',
    kb: 'KB5031356',
    classification: securityClassification(),
  });
  emu.addUpdate({
    title: 'Windows XP Update Package, October 25, 2001',
    kb: 'KB309521',
    classification: 'Critical Updates',
    uninstallable: false,
  });
  const doc = documentedComputer();
  emu.addComputer({ fullDomainName: doc.name, osDescription: doc.os, ipAddress: '10.0.0.9' });
  emu.addComputer({ fullDomainName: 'web01.corp.example', ipAddress: '10.0.0.11' });
  emu.addComputer({ fullDomainName: 'web02.corp.example', ipAddress: '10.0.0.12' });
  emu.addComputer({ fullDomainName: 'db01.corp.example', ipAddress: '10.0.0.21', groups: ['Patchflow ring1'] });
  emu.failInstallOn('db01.corp.example');
  return emu;
}

function connectorFor(emu: WsusEmulator, overrides: Record<string, string> = {}) {
  return instantiate(wsusConnector, {
    endpoint: emu.winrm.url,
    ...credentials,
    pollInterval: '5ms',
    maxPollInterval: '20ms',
    installTimeout: '5s',
    requestTimeout: '5s',
    ...overrides,
  });
}

describePatchDeployerContract('wsus', async () => {
  const emu = await startWsus();
  const connector = connectorFor(emu);
  return {
    deployer: connector.deployer,
    targets: [
      { assetId: 'a1', hostname: 'web01.corp.example' },
      { assetId: 'a2', hostname: 'web02' },
      { assetId: 'a3', hostname: documentedComputer().name },
    ],
    failingTarget: { assetId: 'a4', hostname: 'db01.corp.example' },
    patch,
    readInstalledState: async (hostname) =>
      emu.isInstalled(hostname === 'web02' ? 'web02.corp.example' : hostname, patch.vendorRef),
    countHostChanges: async () => emu.hostChanges,
    testConnection: () => connector.testConnection(),
    testConnectionWithBadCredentials: () => connectorFor(emu, { password: 'wrong' }).testConnection(),
    close: () => emu.close(),
  };
});

describeInventorySourceContract('wsus', async () => {
  const emu = await startWsus();
  return {
    inventory: connectorFor(emu).inventory,
    expected: [
      { hostname: documentedComputer().name, ips: ['10.0.0.9'] },
      { hostname: 'web01', ips: ['10.0.0.11'] },
      { hostname: 'web02', ips: ['10.0.0.12'] },
      { hostname: 'db01', ips: ['10.0.0.21'], patchGroup: 'Patchflow ring1' },
    ],
    close: () => emu.close(),
  };
});

describe('wsus connector', () => {
  let emu: WsusEmulator;
  const request = (extra: Partial<DeployRequest> = {}): DeployRequest => ({
    cycleId: 'c1',
    ring: 'ring1',
    patch,
    targets: [{ assetId: 'a1', hostname: 'web01.corp.example' }],
    ...extra,
  });
  beforeEach(async () => {
    emu = await startWsus({ groups: ['Patchflow ring1', "Patch'flow ring1", 'Patch\u2019flow ring1'] });
  });
  afterEach(() => emu.close());

  it('adds targets to the ring group, approves for install there and deletes every shell it opened', async () => {
    const results = await connectorFor(emu).deployer.deploy(request());
    expect(results[0]).toMatchObject({ outcome: 'patched', evidence: { group: 'Patchflow ring1' } });
    expect(emu.groupMembers('Patchflow ring1')).toContain('web01.corp.example');
    expect(emu.approvals).toEqual([expect.objectContaining({ groupName: 'Patchflow ring1', action: 'Install' })]);
    expect(emu.winrm.openShellCount()).toBe(0);
  });

  it('rejects bad credentials as not allowed, which no retry fixes', async () => {
    const err = await connectorFor(emu, { password: 'wrong' })
      .deployer.deploy(request())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAllowedError);
    expect((err as NotAllowedError).retryable).toBe(false);
  });

  it('classifies a 503 from the listener and a refused connection as retryable upstream failures', async () => {
    emu.winrm.failNextRequests(503, 1);
    const unavailable = await connectorFor(emu)
      .deployer.deploy(request())
      .catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(UpstreamError);
    expect((unavailable as UpstreamError).retryable).toBe(true);
    const refused = await connectorFor(emu, { endpoint: 'http://127.0.0.1:1/wsman' })
      .deployer.deploy(request())
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UpstreamError);
    expect((refused as UpstreamError).retryable).toBe(true);
  });

  it('reads output that arrives in many small chunks after Receive timeouts', async () => {
    const slow = await startWsus({ chunkBytes: 7, receiveTimeoutsPerCommand: 1 });
    try {
      const results = await connectorFor(slow).deployer.deploy(request());
      expect(results[0]?.outcome).toBe('patched');
      expect(slow.winrm.exchanges.filter((e) => e.action.endsWith('/Receive')).length).toBeGreaterThan(50);
      expect(slow.winrm.openShellCount()).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('quotes every value: quotes in a group name or a KB reference never become code', async () => {
    const cases = [
      { template: "Patch'flow {ring}", group: "Patch'flow ring1", hostname: 'web02.corp.example' },
      { template: 'Patch\u2019flow {ring}', group: 'Patch\u2019flow ring1', hostname: 'db01.corp.example' },
    ];
    for (const c of cases) {
      await connectorFor(emu, { groupTemplate: c.template }).deployer.deploy(
        request({ targets: [{ assetId: 'a2', hostname: c.hostname }] }),
      );
      expect(emu.groupMembers(c.group)).toEqual([c.hostname]);
      expect(emu.approvals.at(-1)).toMatchObject({ groupName: c.group, action: 'Install' });
    }
    await connectorFor(emu)
      .deployer.deploy(request({ patch: { ...patch, vendorRef: "KB1' ; Remove-Item -Path 'C:\\' ; '" } }))
      .catch(() => undefined);
    expect(emu.cmdletCalls.map((c) => c.name)).not.toContain('Remove-Item');
    expect(emu.cmdletCalls).toContainEqual(
      expect.objectContaining({
        name: 'Where-Object',
        params: expect.objectContaining({ Value: "1' ; Remove-Item -Path 'C:\\' ; '" }),
      }),
    );
  });

  it('names a missing ring group as an input error', async () => {
    const err = await connectorFor(emu)
      .deployer.deploy(request({ ring: 'ring9' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/Patchflow ring9/);
  });

  it('rolls back an update that cannot be uninstalled by removing its approval and saying so', async () => {
    const xp = { ...patch, vendorRef: 'KB309521' };
    await connectorFor(emu).deployer.deploy(request({ patch: xp }));
    const results = await connectorFor(emu).deployer.rollback(request({ patch: xp }));
    expect(results[0]).toMatchObject({ outcome: 'failed', message: expect.stringMatching(/cannot be uninstalled/) });
    expect(emu.approvals.at(-1)).toMatchObject({ action: 'NotApproved', groupName: 'Patchflow ring1' });
  });

  it('stops waiting when the signal aborts, and still closes its shells', async () => {
    const slowClients = await startWsus({ reportsBeforeAction: 1000 });
    try {
      const controller = new AbortController();
      const pending = connectorFor(slowClients).deployer.deploy(
        request({ signal: controller.signal, onProgress: () => controller.abort() }),
      );
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(slowClients.winrm.openShellCount()).toBe(0);
    } finally {
      await slowClients.close();
    }
  });
});
