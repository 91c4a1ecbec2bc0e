import { readFileSync } from 'node:fs';
import https from 'node:https';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployRequest } from '../../integrations/contract/index.ts';
import { InputError, NotAllowedError, NotFoundError, UpstreamError } from '../../kernel/errors.ts';
import { sccmConnector } from '../../integrations/sccm/index.ts';
import { describeInventorySourceContract } from '../contract/inventory-source.contract.ts';
import { describePatchDeployerContract } from '../contract/patch-deployer.contract.ts';
import { SccmEmulator, type SccmEmulatorOptions } from '../emulators/sccm.ts';
import { instantiate } from '../helpers/connectors.ts';

const credentials = { username: 'CORP\\svc-patchflow', password: 'pa55word' };
const patch = { patchId: 'p-kb5031356', title: '2023-10 Cumulative Update', vendorRef: 'KB5031356' };
const article = '5031356';
const allDps = 'All distribution points';

async function startSccm(opts: Partial<SccmEmulatorOptions> = {}): Promise<SccmEmulator> {
  const emu = await new SccmEmulator({ ...credentials, evaluationsBeforeInstall: 1, ...opts }).start();
  emu.addUpdate(article, '2023-10 Cumulative Update for Windows Server 2022 for x64-based Systems (KB5031356)');
  emu.addCollection('PS100012', 'Patchflow ring1');
  emu.addCollection('PS100013', 'Web servers');
  emu.addDevice('web01', { ip: '10.1.0.11', collections: ['PS100012', 'PS100013'] });
  emu.addDevice('web02', { ip: '10.1.0.12', collections: ['PS100012', 'PS100013'] });
  emu.addDevice('db01', { ip: '10.1.0.21', collections: ['PS100012'], failInstall: true });
  emu.addDevice('app01', { ip: '10.1.0.31' });
  emu.addDevice('file01', { ip: '10.1.0.41', collections: ['PS100012'], needsRestart: true });
  emu.addDevice('desk01', { ip: '10.1.0.51', collections: ['PS100012'], kind: 'workstation', needsRestart: true });
  emu.addDistributionPoint('DP01.corp.example');
  emu.addDistributionPoint('DP02.corp.example');
  emu.addDistributionPointGroup(allDps, ['DP01.corp.example', 'DP02.corp.example']);
  emu.addPackage('PS100034', 'Windows Server updates 2023', {
    articles: [article],
    onDistributionPoints: ['DP01.corp.example'],
  });
  return emu;
}

function connectorFor(emu: SccmEmulator, overrides: Record<string, unknown> = {}) {
  return instantiate(sccmConnector, {
    url: emu.url,
    ...credentials,
    caFile: emu.certFile,
    collections: { ring1: 'PS100012' },
    package: { packageId: 'PS100034' },
    pollInterval: '5ms',
    maxPollInterval: '20ms',
    distributionTimeout: '5s',
    installTimeout: '5s',
    requestTimeout: '5s',
    ...overrides,
  });
}

/** A request straight to the emulator, as any AdminService client would send it. */
function call(emu: SccmEmulator, method: 'GET' | 'POST', path: string, body?: unknown) {
  return new Promise<{ status: number; json: { error?: { code: string; message: string } } }>((resolve, reject) => {
    const req = https.request(
      `${emu.url}/${path}`,
      {
        method,
        ca: readFileSync(emu.certFile),
        headers: {
          authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`,
          'content-type': 'application/json',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const posted = (emu: SccmEmulator, path: string) =>
  emu.requests.filter((r) => r.method === 'POST' && r.path === `/AdminService/wmi/${path}`).map((r) => r.body);

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
    readInstalledState: async (hostname) => emu.isInstalled(hostname, article),
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
      { hostname: 'FILE01', ips: ['10.1.0.41'], patchGroup: 'ring1' },
      { hostname: 'DESK01', ips: ['10.1.0.51'], patchGroup: 'ring1' },
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

  it('deploys the software update group as an SMS_UpdateGroupAssignment with its documented properties, once per ring', async () => {
    const connector = connectorFor(emu);
    expect((await connector.deployer.deploy(request(['web01'])))[0]?.outcome).toBe('patched');
    expect((await connector.deployer.deploy(request(['web02'])))[0]?.outcome).toBe('patched');
    const [group] = emu.instances('SMS_AuthorizationList');
    expect(group).toMatchObject({ LocalizedDisplayName: 'Patchflow KB5031356' });
    const [ci] = emu.instances('SMS_SoftwareUpdate').map((u) => u['CI_ID']);
    expect(posted(emu, 'SMS_UpdateGroupAssignment')).toEqual([
      {
        AssignmentName: 'Patchflow KB5031356 ring1',
        AssignmentDescription: 'Patchflow cycle c-7, ring ring1',
        AssignedUpdateGroup: group!['CI_ID'],
        AssignedCIs: [ci],
        TargetCollectionID: 'PS100012',
        AssignmentAction: 2,
        AssignmentType: 5,
        DesiredConfigType: 1,
        Enabled: true,
        StartTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        EnforcementDeadline: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        UseGMTTimes: true,
        NotifyUser: false,
        UserUIExperience: false,
        OverrideServiceWindows: false,
        RebootOutsideOfServiceWindows: false,
        SuppressReboot: 0,
      },
    ]);
    expect(emu.instances('SMS_UpdateGroupAssignment')).toHaveLength(1);
    expect(emu.requests.some((r) => r.path.includes('SMS_UpdatesAssignment'))).toBe(false);
  });

  it('refuses AssignedUpdateGroup on SMS_UpdatesAssignment, as the AdminService refuses a property the class does not define', async () => {
    const [ci] = emu.instances('SMS_SoftwareUpdate').map((u) => u['CI_ID']);
    const wrong = await call(emu, 'POST', 'wmi/SMS_UpdatesAssignment', {
      AssignmentName: 'wrong class',
      AssignedCIs: [ci],
      AssignedUpdateGroup: 16777999,
      TargetCollectionID: 'PS100012',
      StartTime: new Date().toISOString(),
    });
    expect(wrong).toEqual({
      status: 400,
      json: {
        error: {
          code: '',
          message:
            "The property 'AssignedUpdateGroup' does not exist on type 'AdminService.SMS_UpdatesAssignment'. Make sure to only use property names that are defined by the type.",
        },
      },
    });
    const selected = await call(emu, 'GET', 'wmi/SMS_UpdatesAssignment?$select=AssignmentID,AssignedUpdateGroup');
    expect(selected.status).toBe(400);
    expect(selected.json.error?.message).toMatch(/Could not find a property named 'AssignedUpdateGroup'/);
    expect(emu.instances('SMS_UpdatesAssignment')).toEqual([]);
  });

  it('reboot policy "never" suppresses the restart on servers and workstations and reports them installed, reboot pending', async () => {
    const connector = connectorFor(emu);
    const results = await connector.deployer.deploy(request(['file01', 'desk01'], { reboot: 'never' }));
    for (const r of results)
      expect(r).toMatchObject({
        outcome: 'patched',
        message: expect.stringMatching(/installed KB5031356; reboot pending: reboot policy "never"/),
        evidence: expect.objectContaining({ rebootPending: true, suppressReboot: 3 }),
      });
    expect(posted(emu, 'SMS_UpdateGroupAssignment')).toEqual([expect.objectContaining({ SuppressReboot: 3 })]);
    expect([emu.isPendingRestart('file01', article), emu.isPendingRestart('desk01', article)]).toEqual([true, true]);

    const verified = await connector.deployer.verify(request(['file01', 'desk01']));
    for (const r of verified)
      expect(r).toMatchObject({
        outcome: 'failed',
        message: 'ConfigMgr reports KB5031356 installed, reboot pending',
        evidence: expect.objectContaining({ rebootPending: true }),
      });

    const changes = emu.hostChanges;
    const again = await connector.deployer.deploy(request(['file01'], { reboot: 'never' }));
    expect(again[0]).toMatchObject({ outcome: 'patched', evidence: expect.objectContaining({ rebootPending: true }) });
    expect(emu.hostChanges).toBe(changes);
  });

  it('reboot policies "if-required" and "always" leave the restart to ConfigMgr and wait until it has happened', async () => {
    for (const [reboot, host] of [
      ['if-required', 'file01'],
      ['always', 'desk01'],
    ] as const) {
      const [result] = await connectorFor(emu).deployer.deploy(request([host], { reboot }));
      expect(result).toMatchObject({ outcome: 'patched', message: 'installed KB5031356' });
      expect(result?.evidence).not.toHaveProperty('rebootPending');
      expect(emu.isInstalled(host, article)).toBe(true);
    }
    expect(
      posted(emu, 'SMS_UpdateGroupAssignment').map((b) => (b as { SuppressReboot: number }).SuppressReboot),
    ).toEqual([0]);
  });

  it('replaces the ring deployment when the reboot policy changes, since clients obey its SuppressReboot', async () => {
    await connectorFor(emu).deployer.deploy(request(['web01'], { reboot: 'never' }));
    await connectorFor(emu).deployer.deploy(request(['web02'], { reboot: 'if-required' }));
    expect(emu.instances('SMS_UpdateGroupAssignment')).toEqual([expect.objectContaining({ SuppressReboot: 0 })]);
    expect(emu.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([
      expect.stringMatching(/^\/AdminService\/wmi\/SMS_UpdateGroupAssignment\(\d+\)$/),
    ]);
  });

  it('puts the package on every distribution point of its groups and deploys only once they all have it', async () => {
    const slow = await startSccm({ distributionCycles: 3 });
    try {
      const notes: string[] = [];
      const [result] = await connectorFor(slow, {
        package: { packageId: 'PS100034', distributionPointGroups: [allDps] },
      }).deployer.deploy(request(['web01'], { onProgress: (n) => notes.push(n) }));
      expect(result).toMatchObject({
        outcome: 'patched',
        evidence: expect.objectContaining({ packageId: 'PS100034' }),
      });
      expect(posted(slow, 'SMS_DistributionPoint')).toEqual([
        {
          PackageID: 'PS100034',
          ServerNALPath: '["Display=\\\\DP02.corp.example\\"]MSWNET:["SMS_SITE=PS1"]\\\\DP02.corp.example\\',
          SiteCode: 'PS1',
        },
      ]);
      expect(notes).toContain('package PS100034 is on 1/2 distribution points');
      const paths = slow.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`);
      const lastStatusRead = paths.lastIndexOf('GET /AdminService/wmi/SMS_PackageStatusDistPointsSummarizer');
      expect(lastStatusRead).toBeGreaterThan(0);
      expect(paths.indexOf('POST /AdminService/wmi/SMS_UpdateGroupAssignment')).toBeGreaterThan(lastStatusRead);
    } finally {
      await slow.close();
    }
  });

  it('creates the package on its source share and adds the staged content before distributing it', async () => {
    const connector = connectorFor(emu, {
      package: {
        sourcePath: '\\\\fs01\\updates\\patchflow',
        contentSourcePath: '\\\\fs01\\staging\\',
        distributionPointGroups: [allDps],
      },
    });
    const [result] = await connector.deployer.deploy(request(['web01']));
    expect(result?.outcome).toBe('patched');
    expect(posted(emu, 'SMS_SoftwareUpdatesPackage')).toEqual([
      {
        Name: 'Patchflow software updates',
        Description: 'Software updates deployed by Patchflow',
        PkgSourceFlag: 2,
        PkgSourcePath: '\\\\fs01\\updates\\patchflow',
      },
    ]);
    const created = emu
      .instances('SMS_SoftwareUpdatesPackage')
      .find((p) => p['Name'] === 'Patchflow software updates')!;
    const [content] = emu.contentOfArticle(article);
    expect(
      posted(emu, `SMS_SoftwareUpdatesPackage('${String(created['PackageID'])}')/AdminService.AddUpdateContent`),
    ).toEqual([{ ContentIDs: [content], ContentSourcePath: [`\\\\fs01\\staging\\${content}`], bRefreshDPs: true }]);
    expect(emu.packageContent(String(created['PackageID']))).toEqual([content]);
    expect(result?.evidence).toMatchObject({ packageId: created['PackageID'] });

    await connector.deployer.deploy(request(['web02']));
    expect(
      emu.instances('SMS_SoftwareUpdatesPackage').filter((p) => p['Name'] === 'Patchflow software updates'),
    ).toHaveLength(1);
  });

  it('fails with the distribution point and its state when the content does not reach it, and deploys nothing', async () => {
    emu.addDistributionPoint('DP03.corp.example', { failing: true });
    emu.addDistributionPointGroup('Branch offices', ['DP03.corp.example']);
    const failure = await connectorFor(emu, {
      package: { packageId: 'PS100034', distributionPointGroups: ['Branch offices'] },
    })
      .deployer.deploy(request(['web01']))
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(UpstreamError);
    expect((failure as UpstreamError).retryable).toBe(false);
    expect((failure as Error).message).toMatch(
      /content of package PS100034 did not reach DP03\.corp\.example \(INSTALL_FAILED\); see distmgr\.log/,
    );
    expect(emu.instances('SMS_UpdateGroupAssignment')).toEqual([]);
  });

  it('names the package setting that is wrong: unknown package, no content, unknown group', async () => {
    emu.addPackage('PS100035', 'Empty package', { onDistributionPoints: ['DP01.corp.example'] });
    const cases = [
      [{ packageId: 'PS1000FF' }, 'packageId', /no software updates package PS1000FF/],
      [{ packageId: 'PS100035' }, 'contentSourcePath', /PS100035 does not hold the content of KB5031356/],
      [{ packageId: 'PS100034', distributionPointGroups: ['Nowhere'] }, 'distributionPointGroups', /"Nowhere"/],
    ] as const;
    for (const [pkg, field, message] of cases) {
      const err = await connectorFor(emu, { package: pkg })
        .deployer.deploy(request(['web01']))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(message);
      expect((err as InputError).details[0]?.path).toEqual(['connectors', 'sccm', 'package', field]);
    }
    expect(emu.instances('SMS_UpdateGroupAssignment')).toEqual([]);
  });

  it('refuses Basic over http:// and incomplete package settings, naming the field', () => {
    const base = {
      url: 'https://cm01.corp.example/AdminService',
      ...credentials,
      collections: { ring1: 'PS100012' },
      package: { packageId: 'PS100034' },
    };
    const issues = (raw: Record<string, unknown>) => {
      const parsed = sccmConnector.configSchema.safeParse({ ...base, ...raw });
      return parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path, message: i.message }));
    };
    expect(issues({})).toEqual([]);
    expect(issues({ url: 'http://cm01.corp.example/AdminService' })).toEqual([
      { path: ['url'], message: expect.stringMatching(/Basic auth over http:\/\/ sends the password in clear/) },
    ]);
    expect(issues({ package: {} })).toEqual([
      { path: ['package', 'packageId'], message: expect.stringMatching(/packageId .* or sourcePath/) },
    ]);
    expect(issues({ package: { sourcePath: '\\\\fs01\\updates' } }).map((i) => i.path)).toEqual([
      ['package', 'distributionPointGroups'],
      ['package', 'contentSourcePath'],
    ]);
    expect(issues({ package: { packageId: 'PS100034', contentSourcePath: 'C:\\staging' } })).toEqual([
      { path: ['package', 'contentSourcePath'], message: expect.stringMatching(/UNC path/) },
    ]);
  });

  it("refuses the service's self-signed certificate until caFile trusts it", async () => {
    const untrusted = await connectorFor(emu, { caFile: undefined }).testConnection();
    expect(untrusted).toMatchObject({ ok: false, message: expect.stringMatching(/not trusted .*set caFile/) });
    expect(await connectorFor(emu).testConnection()).toMatchObject({ ok: true, message: expect.stringMatching(/PS1/) });
  });

  it('skips a device outside the ring collection instead of deploying to it', async () => {
    const results = await connectorFor(emu).deployer.deploy(request(['web01', 'app01']));
    expect(results.map((r) => r.outcome)).toEqual(['patched', 'skipped']);
    expect(results[1]?.message).toMatch(/not a member of collection PS100012/);
    expect(emu.isInstalled('app01', article)).toBe(false);
  });

  it('rollback removes the deployment and says the update stays installed', async () => {
    await connectorFor(emu).deployer.deploy(request(['web01']));
    const [result] = await connectorFor(emu).deployer.rollback(request(['web01']));
    expect(result).toMatchObject({ outcome: 'skipped', message: expect.stringMatching(/cannot uninstall/) });
    expect(emu.instances('SMS_UpdateGroupAssignment')).toEqual([]);
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
    const slow = await startSccm({ evaluationsBeforeInstall: 1000 });
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
