import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployRequest } from '../../integrations/contract/index.ts';
import { InputError, NotAllowedError, UpstreamError } from '../../kernel/errors.ts';
import { WinRmClient } from '../../integrations/kit/winrm/client.ts';
import { maxCommandLineChars, splitToFit } from '../../integrations/kit/winrm/limits.ts';
import { actions, cmdShellUri, ns } from '../../integrations/kit/winrm/wsman.ts';
import { ipAddressSchema } from '../../integrations/wsus/client.ts';
import { wsusConnector } from '../../integrations/wsus/index.ts';
import { describeInventorySourceContract } from '../contract/inventory-source.contract.ts';
import { describePatchDeployerContract } from '../contract/patch-deployer.contract.ts';
import { WsusEmulator, type WsusEmulatorOptions } from '../emulators/winrm-wsus.ts';
import type { WinRmCommand } from '../emulators/winrm.ts';
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

function connectorFor(emu: WsusEmulator, overrides: Record<string, string | number> = {}) {
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
    expect(emu.approvals).toEqual([expect.objectContaining({ action: 'Install', groupName: 'Patchflow ring1' })]);
    const results = await connectorFor(emu).deployer.rollback(request({ patch: xp }));
    expect(results[0]).toMatchObject({ outcome: 'failed', message: expect.stringMatching(/cannot be uninstalled/) });
    expect(emu.approvals).toEqual([]);
  });

  it('looks a patch up with SearchUpdates once per cycle, not by listing every update on every call', async () => {
    const connector = connectorFor(emu);
    await connector.deployer.deploy(request());
    await connector.deployer.verify(request());
    await connector.deployer.rollback(request());
    expect(emu.searches).toEqual(['5031356']);
    await connector.deployer.verify(request({ cycleId: 'c2' }));
    expect(emu.searches).toEqual(['5031356', '5031356']);
    expect(emu.cmdletCalls.filter((c) => c.name === 'Get-WsusUpdate' && !c.params['UpdateId'])).toEqual([]);
  });

  it('refuses a vendor reference WSUS cannot search for, naming the field', async () => {
    const err = await connectorFor(emu)
      .deployer.deploy(request({ patch: { ...patch, vendorRef: 'KB' } }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).details).toEqual([expect.objectContaining({ path: ['patch', 'vendorRef'] })]);
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

describe('wsus: the shapes real servers emit', () => {
  const capture = (name: string) => readFixture(`wsus/${name}`).trim();
  /** Runs a script on the emulated WSUS server as the connector would, returning its stdout. */
  async function runOn(emu: WsusEmulator, script: string): Promise<string> {
    const winrm = new WinRmClient({
      endpoint: emu.winrm.url,
      ...credentials,
      requestTimeoutMs: 5000,
      operationTimeoutSec: 20,
    });
    const out = await winrm.runPowerShell(`$server = Get-WsusServer\r\n${script}`);
    expect(out.exitCode, out.stderr).toBe(0);
    return out.stdout.trim();
  }

  it('writes IComputerTarget.IPAddress as the System.Net.IPAddress object each PowerShell version writes', async () => {
    const emu = await new WsusEmulator({ ...credentials, powershellVersion: '7' }).start();
    try {
      emu.addComputer({ fullDomainName: 'v4.corp.example', ipAddress: '192.168.1.1' });
      const piped = `$server.GetComputerTargets() | Select-Object -ExpandProperty 'IPAddress' | ConvertTo-Json -Compress`;
      expect(await runOn(emu, piped)).toBe(capture('pwsh7_ConvertTo-Json_IPAddress_ipv4_pipeline.json'));
      const nested = `$server.GetComputerTargets() | Select-Object -Property 'IPAddress' | ConvertTo-Json -Compress`;
      expect(await runOn(emu, nested)).toBe(
        `{"IPAddress":${capture('pwsh7_ConvertTo-Json_IPAddress_ipv4_inputobject.json')}}`,
      );
    } finally {
      await emu.close();
    }
    const v6 = await new WsusEmulator({ ...credentials, powershellVersion: '7' }).start();
    try {
      v6.addComputer({ fullDomainName: 'v6.corp.example', ipAddress: '::1' });
      expect(
        await runOn(
          v6,
          `$server.GetComputerTargets() | Select-Object -ExpandProperty 'IPAddress' | ConvertTo-Json -Compress`,
        ),
      ).toBe(capture('pwsh7_ConvertTo-Json_IPAddress_ipv6_pipeline.json'));
    } finally {
      await v6.close();
    }
    const desktop = await new WsusEmulator({ ...credentials, powershellVersion: '5.1' }).start();
    try {
      const scope = JSON.parse(capture('gowindows_Get-DhcpServerv4Scope.scopeV4Json.json')) as Record<string, unknown>;
      desktop.addComputer({ fullDomainName: 'v4.corp.example', ipAddress: '192.168.10.0' });
      const nested = `$server.GetComputerTargets() | Select-Object -Property 'IPAddress' | ConvertTo-Json -Compress`;
      expect(await runOn(desktop, nested)).toBe(JSON.stringify({ IPAddress: scope['ScopeId'] }));
    } finally {
      await desktop.close();
    }
  });

  it('reads an IPAddress written as an object by either version, or as text, with the same schema', () => {
    const read = (name: string) => ipAddressSchema.parse(JSON.parse(capture(name)));
    expect(read('pwsh7_ConvertTo-Json_IPAddress_ipv4_pipeline.json')).toBe('192.168.1.1');
    expect(read('pwsh7_ConvertTo-Json_IPAddress_ipv4_inputobject.json')).toBe('192.168.1.1');
    expect(read('pwsh7_ConvertTo-Json_IPAddress_ipv4_pipeline_with_ets_noteproperty.json')).toBe('192.168.1.1');
    expect(read('pwsh7_ConvertTo-Json_IPAddress_ipv6_pipeline.json')).toBe('::1');
    expect(read('pwsh7_ConvertTo-Json_IPAddress_ipv6_inputobject.json')).toBeNull();
    const scope = JSON.parse(capture('gowindows_Get-DhcpServerv4Scope.scopeV4Json.json')) as Record<string, unknown>;
    expect(['ScopeId', 'SubnetMask', 'StartRange', 'EndRange'].map((k) => ipAddressSchema.parse(scope[k]))).toEqual([
      '192.168.10.0',
      '255.255.255.0',
      '192.168.10.5',
      '192.168.10.10',
    ]);
    expect(ipAddressSchema.parse('10.0.0.9')).toBe('10.0.0.9');
    expect(ipAddressSchema.safeParse({ Address: 1 }).success).toBe(false);
  });

  it.each(['5.1', '7'] as const)('inventories computers with their addresses from PowerShell %s', async (version) => {
    const emu = await new WsusEmulator({ ...credentials, powershellVersion: version }).start();
    try {
      emu.addComputer({ fullDomainName: 'web01.corp.example', ipAddress: '10.0.0.11' });
      emu.addComputer({ fullDomainName: 'web06.corp.example', ipAddress: 'fd00::6' });
      const assets = await connectorFor(emu).inventory.listAssets();
      expect(assets.map((a) => [a.hostname, a.ips])).toEqual([
        ['web01', ['10.0.0.11']],
        ['web06', ['fd00::6']],
      ]);
    } finally {
      await emu.close();
    }
  });

  it('finds the built-in groups by id on a localized server', async () => {
    const emu = await startWsus({
      builtInGroupNames: { allComputers: 'Alle Computer', unassignedComputers: 'Nicht zugewiesene Computer' },
    });
    try {
      const connector = connectorFor(emu);
      const results = await connector.deployer.deploy({
        cycleId: 'c-de',
        ring: 'ring1',
        patch,
        targets: [{ assetId: 'a1', hostname: 'web01.corp.example' }],
      });
      expect(results[0]?.outcome).toBe('patched');
      const assets = await connector.inventory.listAssets();
      expect(assets.find((a) => a.hostname === 'web02')).toMatchObject({ patchGroup: undefined, tags: [] });
      expect(assets.find((a) => a.hostname === 'web01')).toMatchObject({ patchGroup: 'Patchflow ring1' });
    } finally {
      await emu.close();
    }
  });
});

describe('wsus: approvals clients act on', () => {
  let emu: WsusEmulator;
  const request = (hostname: string, extra: Partial<DeployRequest> = {}): DeployRequest => ({
    cycleId: 'c-approve',
    ring: 'ring1',
    patch,
    targets: [{ assetId: 'a1', hostname }],
    ...extra,
  });
  beforeEach(async () => {
    emu = await startWsus();
  });
  afterEach(() => emu.close());

  it('accepts a licence agreement before approving, which WSUS otherwise refuses', async () => {
    emu.addUpdate({ title: 'Silverlight (KB4023307)', kb: 'KB4023307', licenseAgreement: true });
    const eula = { ...patch, vendorRef: 'KB4023307' };
    const winrm = new WinRmClient({
      endpoint: emu.winrm.url,
      ...credentials,
      requestTimeoutMs: 5000,
      operationTimeoutSec: 20,
    });
    const refused = await winrm.runPowerShell(
      [
        '$server = Get-WsusServer',
        `$group = $server.GetComputerTargetGroup('a0a08746-4dbe-4a37-9adf-9e7652c0b421')`,
        `$server.SearchUpdates('4023307') | ForEach-Object -Process { $_.Approve('Install', $group) }`,
      ].join('\r\n'),
    );
    expect(refused.stderr).toMatch(/You must accept the license agreement/);
    const results = await connectorFor(emu).deployer.deploy(request('web01.corp.example', { patch: eula }));
    expect(results[0]?.outcome).toBe('patched');
    expect(emu.licenseAccepted('KB4023307')).toBe(true);
  });

  it('sets a deadline, so that a client set only to notify installs without a person', async () => {
    emu.addComputer({ fullDomainName: 'kiosk01.corp.example', notifyOnly: true });
    const before = Date.now();
    const results = await connectorFor(emu).deployer.deploy(request('kiosk01.corp.example'));
    expect(results[0]).toMatchObject({ outcome: 'patched', evidence: { deadline: expect.any(String) } });
    const deadline = emu.approvals[0]!.deadline!.getTime();
    expect(deadline).toBeGreaterThanOrEqual(before - 1000);
    expect(deadline).toBeLessThanOrEqual(Date.now());
  });

  it('leaves a notify-only client waiting until a deadline in the future, and says so', async () => {
    emu.addComputer({ fullDomainName: 'kiosk02.corp.example', notifyOnly: true });
    const results = await connectorFor(emu, { installDeadline: '1h', installTimeout: '100ms' }).deployer.deploy(
      request('kiosk02.corp.example'),
    );
    expect(results[0]).toMatchObject({
      outcome: 'failed',
      message: expect.stringMatching(/not installed within 100ms .*only to notify at the deadline/),
    });
    expect(emu.isInstalled('kiosk02.corp.example', patch.vendorRef)).toBe(false);
    expect(emu.approvals[0]!.deadline!.getTime()).toBeGreaterThan(Date.now() + 59 * 60_000);
  });

  it('reports a pending reboot as patched from deploy and as not compliant from verify', async () => {
    emu.addComputer({ fullDomainName: 'app01.corp.example', restartRequired: true });
    const connector = connectorFor(emu);
    const deployed = await connector.deployer.deploy(request('app01.corp.example'));
    expect(deployed[0]).toMatchObject({
      outcome: 'patched',
      message: expect.stringMatching(/reboot pending/),
      evidence: { rebootPending: true },
    });
    const verified = await connector.deployer.verify(request('app01.corp.example'));
    expect(verified[0]).toMatchObject({
      outcome: 'failed',
      message: 'installed, reboot pending',
      evidence: { rebootPending: true },
    });
    const again = await connector.deployer.deploy(request('app01.corp.example'));
    expect(again[0]).toMatchObject({ outcome: 'patched', evidence: { rebootPending: true } });
    emu.restart('app01.corp.example');
    const after = await connector.deployer.verify(request('app01.corp.example'));
    expect(after[0]?.outcome).toBe('already_compliant');
    expect(after[0]?.evidence).not.toHaveProperty('rebootPending');
  });
});

describe('wsus: a 500-host ring within Windows and WinRM limits', () => {
  const ring = Array.from({ length: 500 }, (_, i) => `ws-${String(i).padStart(4, '0')}.branch-office.corp.example`);
  async function startRing(opts: Partial<WsusEmulatorOptions> = {}): Promise<WsusEmulator> {
    const emu = await startWsus(opts);
    for (const [i, name] of ring.entries())
      emu.addComputer({ fullDomainName: name, ipAddress: `10.1.${i >> 8}.${i & 255}` });
    return emu;
  }
  const deployRing = (emu: WsusEmulator, overrides: Record<string, string | number> = {}) =>
    instantiate(wsusConnector, {
      endpoint: emu.winrm.url,
      ...credentials,
      pollInterval: '5ms',
      maxPollInterval: '20ms',
      installTimeout: '20s',
      requestTimeout: '20s',
      ...overrides,
    }).deployer.deploy({
      cycleId: 'c-500',
      ring: 'ring1',
      patch,
      targets: ring.map((hostname, i) => ({ assetId: `a${i}`, hostname })),
    });
  const groupScripts = (emu: WsusEmulator) =>
    emu.winrm.commandsRun().filter((c) => decoded(c).includes('AddComputerTarget'));

  it('adds every host to the ring group in several commands, each under 32,767 characters, and patches all', async () => {
    const emu = await startRing();
    try {
      const results = await deployRing(emu);
      expect(results).toHaveLength(500);
      expect(new Set(results.map((r) => r.outcome))).toEqual(new Set(['patched']));
      expect(emu.groupMembers('Patchflow ring1')).toEqual(expect.arrayContaining(ring));
      const lines = groupScripts(emu).map((c) => c.line.length);
      expect(lines.length).toBeGreaterThan(1);
      // The budget is measured, not guessed: every chunk but the last is close to the limit.
      for (const length of lines) expect(length + 1).toBeLessThanOrEqual(maxCommandLineChars);
      expect(Math.max(...lines)).toBeGreaterThan(maxCommandLineChars - 200);
      expect(emu.approvals).toEqual([expect.objectContaining({ groupName: 'Patchflow ring1', action: 'Install' })]);
    } finally {
      await emu.close();
    }
  });

  it('fits the envelope limit of a listener lowered to MaxEnvelopeSizekb 32, and names the setting when told wrong', async () => {
    const emu = await startRing({ maxEnvelopeSizeKb: 32 });
    try {
      const err = await deployRing(emu).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/MaxEnvelopeSizekb/);
      expect(emu.winrm.oversizedRequests.length).toBeGreaterThan(0);
      const refused = emu.winrm.oversizedRequests.length;
      const results = await deployRing(emu, { maxEnvelopeSizeKb: 32 });
      expect(new Set(results.map((r) => r.outcome))).toEqual(new Set(['patched']));
      expect(emu.winrm.oversizedRequests).toHaveLength(refused);
      expect(emu.groupMembers('Patchflow ring1')).toEqual(expect.arrayContaining(ring));
    } finally {
      await emu.close();
    }
  });
});

describe('winrm: the limits the emulator enforces and the client respects', () => {
  let emu: WsusEmulator;
  beforeEach(async () => {
    emu = await startWsus();
  });
  afterEach(() => emu.close());

  /** Sends one Command with exactly this command line, bypassing the client's own check. */
  async function rawCommand(line: string): Promise<{ status: number; text: string }> {
    const post = async (action: string, body: string, shellId?: string) => {
      const selector = shellId
        ? `<w:SelectorSet><w:Selector Name="ShellId">${shellId}</w:Selector></w:SelectorSet>`
        : '';
      const res = await fetch(emu.winrm.url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`,
          'content-type': 'application/soap+xml;charset=UTF-8',
        },
        body: `<s:Envelope xmlns:s="${ns.soap}" xmlns:a="${ns.addressing}" xmlns:w="${ns.wsman}"><s:Header><w:ResourceURI>${cmdShellUri}</w:ResourceURI><a:Action>${action}</a:Action><a:MessageID>uuid:1</a:MessageID>${selector}</s:Header><s:Body>${body}</s:Body></s:Envelope>`,
      });
      return { status: res.status, text: await res.text() };
    };
    const created = await post(actions.create, `<rsp:Shell xmlns:rsp="${ns.shell}"/>`);
    const shellId = /Name="ShellId">([^<]+)</.exec(created.text)![1]!;
    const program = 'powershell.exe';
    return post(
      actions.command,
      `<rsp:CommandLine xmlns:rsp="${ns.shell}"><rsp:Command>${program}</rsp:Command><rsp:Arguments>${'x'.repeat(line.length - program.length - 1)}</rsp:Arguments></rsp:CommandLine>`,
      shellId,
    );
  }

  it('refuses a command line CreateProcess would refuse, as WinRS reports it', async () => {
    const longest = await rawCommand('l'.repeat(maxCommandLineChars - 1));
    expect(longest.status).toBe(200);
    expect(longest.text).toMatch(/CommandId/);
    const over = await rawCommand('l'.repeat(maxCommandLineChars));
    expect(over.status).toBe(500);
    expect(over.text).toMatch(/<s:Value>s:Receiver<\/s:Value>.*w:InternalError/);
    expect(over.text).toMatch(/WSManFault Code="206"/);
    expect(over.text).toMatch(/The filename or extension is too long/);
  });

  it('never sends a command line or an envelope over the limits, and says which one', async () => {
    const winrm = new WinRmClient({
      endpoint: emu.winrm.url,
      ...credentials,
      requestTimeoutMs: 5000,
      operationTimeoutSec: 20,
    });
    const tooLong = await winrm.run('powershell.exe', ['x'.repeat(maxCommandLineChars)]).catch((e: unknown) => e);
    expect(tooLong).toBeInstanceOf(InputError);
    expect((tooLong as Error).message).toMatch(/32766/);
    expect(emu.winrm.exchanges).toEqual([]);
    // Base64 of UTF-16LE: a script of n characters takes 4⌈2n/3⌉ characters of the command line.
    const prefix = 'powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand '.length;
    const lineOf = (n: number) => prefix + 4 * Math.ceil((2 * n) / 3);
    let budget = 0;
    while (lineOf(budget + 1) + 1 <= maxCommandLineChars) budget++;
    expect(winrm.fitsPowerShell('#'.repeat(budget))).toBe(true);
    expect(winrm.fitsPowerShell('#'.repeat(budget + 1))).toBe(false);
    const small = new WinRmClient({
      endpoint: emu.winrm.url,
      ...credentials,
      requestTimeoutMs: 5000,
      operationTimeoutSec: 20,
      maxEnvelopeSizeKb: 32,
    });
    expect(small.fitsPowerShell('#'.repeat(Math.floor(budget)))).toBe(false);
    expect(small.fitsPowerShell('#'.repeat(11_000))).toBe(true);
  });

  it('refuses a MaxEnvelopeSizekb Windows would not accept, naming the setting', () => {
    const parsed = wsusConnector.configSchema.safeParse({
      endpoint: 'https://wsus01.corp.example:5986/wsman',
      ...credentials,
      maxEnvelopeSizeKb: 16,
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path)).toEqual([['maxEnvelopeSizeKb']]);
  });

  it('splits items into the fewest scripts that fit, and refuses one item that cannot fit alone', () => {
    const fits = (script: string) => script.length <= 10;
    expect(splitToFit(['aaa', 'bbb', 'ccc', 'dd'], (s) => s.join(','), fits)).toEqual(['aaa,bbb', 'ccc,dd']);
    expect(() =>
      splitToFit(
        ['a', 'x'.repeat(11)],
        (s) => s.join(','),
        fits,
        (i) => `item ${i.length}`,
      ),
    ).toThrow(/item 11 alone/);
    expect(splitToFit([], (s) => s.join(','), fits)).toEqual([]);
  });
});

function decoded(cmd: WinRmCommand): string {
  const at = cmd.argv.indexOf('-EncodedCommand');
  return Buffer.from(cmd.argv[at + 1] ?? '', 'base64').toString('utf16le');
}
