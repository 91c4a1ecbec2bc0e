import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectorSettingsFromEnv } from '../../integrations/contract/env.ts';
import type { ScanReport, ScanRequest } from '../../integrations/contract/index.ts';
import { readScanReport } from '../../integrations/kit/scanners/report.ts';
import type { ScannedFinding, ScannedHost } from '../../integrations/kit/scanners/types.ts';
import { openvasConnector } from '../../integrations/openvas/index.ts';
import { createConnectorRegistry } from '../../integrations/registry.ts';
import { InputError, NotAllowedError, UpstreamError } from '../../kernel/errors.ts';
import { GmpEmulator, type GmpEmulatorOptions } from '../emulators/gmp.ts';
import { ScanWorld } from '../emulators/scan-world.ts';
import { quietDeps } from '../helpers/connectors.ts';

const username = 'patchflow';
const password = 'gvm-secret-1';

function network(): ScanWorld {
  return new ScanWorld([
    {
      hostname: 'web01',
      ip: '10.20.0.11',
      fqdn: 'web01.corp.example',
      operatingSystem: 'Ubuntu 22.04.4 LTS',
      mac: '52:54:00:12:34:56',
      vulnerabilities: [
        {
          pluginId: '1.3.6.1.4.1.25623.1.0.151001',
          name: 'OpenSSL: Multiple Vulnerabilities (20240125)',
          severity: 4,
          cves: ['CVE-2024-0727', 'CVE-2023-6237'],
          port: '443',
          protocol: 'tcp',
          cvss3Vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
          cvss3BaseScore: 9.8,
          solution: 'Update OpenSSL to version 3.0.13 or later.',
          seeAlso: ['https://www.openssl.org/news/secadv/20240125.txt'],
        },
        {
          pluginId: '1.3.6.1.4.1.25623.1.0.151002',
          name: 'nginx HTTP/2 Rapid Reset DoS',
          severity: 2,
          cves: ['CVE-2023-44487'],
          port: '80',
          protocol: 'tcp',
        },
      ],
    },
    {
      hostname: 'db01',
      ip: '10.20.0.21',
      operatingSystem: 'Microsoft Windows Server 2022 Standard Build 20348',
      vulnerabilities: [
        {
          pluginId: '1.3.6.1.4.1.25623.1.0.151003',
          name: 'Microsoft Outlook RCE (KB5002537)',
          severity: 3,
          cves: ['CVE-2024-21413'],
          mskb: ['KB5002537'],
        },
        { pluginId: '1.3.6.1.4.1.25623.1.0.10330', name: 'Services', severity: 0, cves: [] },
      ],
    },
    {
      hostname: 'app01',
      ip: '10.20.0.31',
      vulnerabilities: [
        { pluginId: '1.3.6.1.4.1.25623.1.0.151004', name: 'Apache Tomcat RCE', severity: 3, cves: ['CVE-2025-24813'] },
      ],
    },
  ]);
}

async function read(body: AsyncIterable<Uint8Array>) {
  const hosts: ScannedHost[] = [];
  const findings: ScannedFinding[] = [];
  const facts = new Map<string, unknown>();
  await readScanReport(body, {
    format: 'openvas',
    sink: {
      host: (h) => hosts.push(h),
      finding: (f) => findings.push({ ...f, cves: [...f.cves] }),
      hostFacts: (key, f) => facts.set(key, { ...f }),
    },
  });
  return {
    facts,
    hostIps: new Set(hosts.map((h) => h.key)),
    names: new Set(hosts.flatMap((h) => h.names)),
    findings,
    cves: new Set(findings.flatMap((f) => f.cves)),
  };
}

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

const request = (hostnames: string[], extra: Partial<ScanRequest> = {}): ScanRequest => ({
  cycleId: 'c-77',
  targets: hostnames.map((h, i) => ({ assetId: `a${i}`, hostname: h })),
  ...extra,
});

describe('openvas connector over GMP', () => {
  let emu: GmpEmulator;
  let workDir: string;

  const start = async (opts: Partial<GmpEmulatorOptions> = {}, world = network()) => {
    await emu?.close();
    emu = await new GmpEmulator(world, { username, password, readsToFinish: 3, ...opts }).start();
    return emu;
  };
  const connector = (overrides: Record<string, unknown> = {}) =>
    openvasConnector.create(
      openvasConnector.configSchema.parse({
        socketPath: emu.socketPath,
        username,
        password,
        pollInterval: '10ms',
        scanTimeout: '30s',
        requestTimeout: '5s',
        ...overrides,
      }),
      { ...quietDeps, workDir },
    );
  const overTls = (overrides: Record<string, unknown> = {}) =>
    connector({ socketPath: undefined, host: '127.0.0.1', port: emu.tlsPort, ...overrides });
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  beforeEach(async () => {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'gmp-scanner-'));
    await start();
  });
  afterEach(async () => {
    await emu.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('scans only the cycle’s targets over the unix socket and returns a report the importer reads', async () => {
    const notes: string[] = [];
    const report = await connector().scanner.scan(
      request(['web01', 'db01', 'ghost01'], { onProgress: (n) => notes.push(n) }),
    );
    expect(emu.targets.map((t) => t.hosts)).toEqual([['web01', 'db01', 'ghost01']]);
    expect(emu.targets[0]).toMatchObject({ portListId: '33d0cd82-57c6-11e1-8ed1-406186ea4fc5' });

    const r = await read(report.body);
    // ghost01 is down and app01 was not a target: neither is in the report.
    expect(r.hostIps).toEqual(new Set(['10.20.0.11', '10.20.0.21']));
    expect(r.names).toEqual(new Set(['web01.corp.example', 'web01', 'db01']));
    expect(r.cves).toEqual(new Set(['CVE-2024-0727', 'CVE-2023-6237', 'CVE-2023-44487', 'CVE-2024-21413']));
    const openssl = r.findings.find((f) => f.pluginId === '1.3.6.1.4.1.25623.1.0.151001');
    expect(openssl).toMatchObject({
      hostKey: '10.20.0.11',
      severity: 4,
      cvssV3Score: 9.8,
      cvssV3Vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      port: '443',
      protocol: 'tcp',
      evidence: { threat: 'Critical', score: 9.8, qod: '80' },
    });
    expect(r.findings.map((f) => f.severity).sort()).toEqual([0, 2, 3, 4]);
    expect(r.facts.get('10.20.0.11')).toEqual({
      os: 'Ubuntu 22.04.4 LTS',
      osCpe: 'cpe:/o:canonical:ubuntu_linux:22.04',
      mac: '52:54:00:12:34:56',
    });
    expect(r.facts.get('10.20.0.21')).toMatchObject({ osCpe: 'cpe:/o:microsoft:windows_server_2022' });

    const run = emu.runs[0]!;
    expect(report).toMatchObject({
      format: 'openvas',
      startedAt: new Date(run.scanStart).toISOString(),
      reference: `gmp task ${run.taskId} report ${run.reportId}`,
    });
    expect(notes.join('\n')).toMatch(/Requested[\s\S]*Running 33%[\s\S]*Done/);
    expect(emu.reportRequests[0]).toMatchObject({
      report_id: run.reportId,
      format_id: 'a994b278-1f62-11e1-96ac-406186ea4fc5',
      details: '1',
      ignore_pagination: '1',
      filter: 'apply_overrides=0 levels=chmlg rows=-1 min_qod=70 first=1',
    });
  });

  it('authenticates first on every connection, runs several commands on one, and leaves nothing behind', async () => {
    const report = await connector().scanner.scan(request(['web01']));
    expect(emu.sessions.every((s) => s[0] === 'authenticate')).toBe(true);
    expect(emu.sessions[0]).toEqual(['authenticate', 'create_target', 'create_task', 'start_task']);
    expect(emu.sessions.at(-1)).toEqual(['authenticate', 'delete_task', 'delete_target']);
    expect(emu.remaining).toEqual({ tasks: 0, targets: 0 });
    expect(emu.deletions.map((d) => [d.kind, d.ultimate])).toEqual([
      ['task', '1'],
      ['target', '1'],
    ]);
    // The body is the <report> of get_reports, spooled and removed once read.
    expect((await text(report.body)).startsWith('<report id=')).toBe(true);
    expect(readdirSync(path.join(workDir, 'openvas'))).toEqual([]);
  });

  it('sends a target its address when the inventory has one, and never a range or a list', async () => {
    await connector().scanner.scan({
      targets: [
        { assetId: 'a1', hostname: 'web01', address: '10.20.0.11' },
        { assetId: 'a2', hostname: 'db01' },
        { assetId: 'a3', hostname: '10.20.0.0/16' },
        { assetId: 'a4', hostname: 'app01,10.20.0.0/24' },
      ],
    });
    expect(emu.targets[0]?.hosts).toEqual(['10.20.0.11', 'db01']);
  });

  it('scans over TLS when gvmd’s certificate is trusted through caFile', async () => {
    await start({ tls: true });
    const scanner = overTls({ caFile: emu.certFile });
    expect(await scanner.testConnection()).toMatchObject({ ok: true, message: expect.stringMatching(/GMP 22\.4/) });
    const r = await read((await scanner.scanner.scan(request(['db01']))).body);
    expect(r.hostIps).toEqual(new Set(['10.20.0.21']));
    expect(r.cves).toEqual(new Set(['CVE-2024-21413']));
    // The certificate's name, for a host given by an address the certificate does not hold.
    expect(await overTls({ serverName: 'gvmd.test', caFile: emu.certFile }).testConnection()).toMatchObject({
      ok: true,
    });
  });

  it('refuses gvmd’s self-signed certificate unless caFile names it', async () => {
    await start({ tls: true });
    const err = await failure(overTls().scanner.scan(request(['db01'])));
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/TLS certificate of gvmd at 127\.0\.0\.1:\d+ was refused.*caFile/);
    expect(emu.commands).toEqual([]);
    expect(await overTls({ serverName: 'other.example', caFile: emu.certFile }).testConnection()).toMatchObject({
      ok: false,
      message: expect.stringMatching(/ERR_TLS_CERT_ALTNAME_INVALID/),
    });
  });

  it('cannot reach a gvmd that is not running: worth retrying, with a hint', async () => {
    const err = await failure(
      connector({ socketPath: path.join(workDir, 'no-gvmd.sock') }).scanner.scan(request(['web01'])),
    );
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/cannot reach gvmd at .*no-gvmd\.sock \(ENOENT\); is gvmd running/);
  });

  it('says clearly that the credentials were refused, and creates nothing', async () => {
    const scanner = connector({ password: 'wrong' });
    const err = await failure(scanner.scanner.scan(request(['web01'])));
    expect(err).toBeInstanceOf(NotAllowedError);
    expect((err as Error).message).toMatch(/as patchflow.*400 "Authentication failed".*username and password/);
    expect(emu.targets).toEqual([]);
    expect(await scanner.testConnection()).toMatchObject({
      ok: false,
      message: expect.stringMatching(/Authentication failed/),
    });
  });

  it('reports a refused command with gvmd’s status_text, as bad input, and deletes what it had created', async () => {
    emu.failNext('create_task', 400, 'Scanner and config mismatched types.');
    const err = await failure(connector().scanner.scan(request(['web01'])));
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/<create_task>.*400 "Scanner and config mismatched types\."/);
    expect(emu.remaining).toEqual({ tasks: 0, targets: 0 });
  });

  it('names the setting when gvmd has no such port list', async () => {
    const err = await failure(
      connector({ portListId: '4a4717fe-57d2-11e1-9a26-406186ea4fc5' }).scanner.scan(request(['web01'])),
    );
    expect((err as Error).message).toMatch(/404 "Failed to find port_list '4a4717fe.*check portListId/);
  });

  it('treats gvmd being busy or down as worth retrying, and rides out one failed status poll', async () => {
    emu.failNext('start_task', 503, 'Service temporarily down');
    const err = await failure(connector().scanner.scan(request(['web01'])));
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/503 "Service temporarily down"/);

    emu.failNext('get_tasks', 503, 'Service temporarily down');
    const notes: string[] = [];
    const report = await connector().scanner.scan(request(['web01'], { onProgress: (n) => notes.push(n) }));
    expect((await read(report.body)).hostIps).toEqual(new Set(['10.20.0.11']));
    expect(notes.some((n) => /status poll failed.*trying again/.test(n))).toBe(true);
  });

  it.each([
    ['Stopped', false],
    ['Interrupted', true],
  ] as const)('fails a scan whose task ends %s, naming the status', async (endStatus, retryable) => {
    await start({ endStatus });
    const err = await failure(connector().scanner.scan(request(['web01'])));
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(new RegExp(`ended ${endStatus} without a complete report`));
    expect((err as UpstreamError).retryable).toBe(retryable);
    expect(emu.reportRequests).toEqual([]);
    expect(emu.remaining).toEqual({ tasks: 0, targets: 0 });
  });

  it('stops the task in gvmd when the scan is cancelled, and ends with the cancellation', async () => {
    await start({ readsToFinish: 1000 });
    const controller = new AbortController();
    const pending = connector().scanner.scan(
      request(['web01'], {
        signal: controller.signal,
        onProgress: (note) => note.includes('Running') && controller.abort(),
      }),
    );
    const err = await failure(pending);
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(emu.stops).toEqual([emu.runs[0]!.taskId]);
    expect(emu.remaining).toEqual({ tasks: 0, targets: 0 });
  });

  it('is cancelled while a command waits for gvmd, and a scan cancelled before it starts creates nothing', async () => {
    await start({ readsToFinish: 1000 });
    const controller = new AbortController();
    const held = emu.holdNext('get_tasks');
    const pending = connector().scanner.scan(request(['web01'], { signal: controller.signal }));
    await held;
    controller.abort();
    expect(await failure(pending)).toMatchObject({ name: 'AbortError' });
    expect(emu.stops).toEqual([emu.runs[0]!.taskId]);
    expect(emu.remaining).toEqual({ tasks: 0, targets: 0 });

    const before = emu.commands.length;
    expect(await failure(connector().scanner.scan(request(['web01'], { signal: AbortSignal.abort() })))).toMatchObject({
      name: 'AbortError',
    });
    expect(emu.commands.length).toBe(before);
  });

  it('gives up on a command gvmd does not answer within requestTimeout, as worth retrying', async () => {
    void emu.holdNext('get_reports');
    const err = await failure(connector({ requestTimeout: '200ms' }).scanner.scan(request(['web01'])));
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/no answer from gvmd at .* within 200 ms/);
    expect(readdirSync(path.join(workDir, 'openvas'))).toEqual([]);
    expect(emu.remaining).toEqual({ tasks: 0, targets: 0 });
  });

  it('stops and deletes a task that outlives scanTimeout', async () => {
    await start({ readsToFinish: 1000 });
    const err = await failure(connector({ scanTimeout: '50ms' }).scanner.scan(request(['web01'])));
    expect((err as Error).message).toMatch(/did not finish within scanTimeout \(50ms\)/);
    expect(emu.stops).toHaveLength(1);
    expect(emu.remaining).toEqual({ tasks: 0, targets: 0 });
  });

  it('refuses a report larger than maxReportBytes and keeps nothing of it', async () => {
    const err = await failure(connector({ maxReportBytes: 2048 }).scanner.scan(request(['web01', 'db01'])));
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).details).toEqual([{ path: ['maxReportBytes'], message: 'larger than 2048 bytes' }]);
    expect(readdirSync(path.join(workDir, 'openvas'))).toEqual([]);
    expect(emu.remaining).toEqual({ tasks: 0, targets: 0 });
  });

  it('asks for the critical level too: gvmd 23+ files 9.0 and above under "c", which levels=hmlg drops', async () => {
    const hmlg = await connector({ reportFilter: 'apply_overrides=0 levels=hmlg rows=-1 min_qod=70 first=1' })
      .scanner.scan(request(['web01']))
      .then((r: ScanReport) => read(r.body));
    expect(hmlg.findings.map((f) => f.severity)).toEqual([2]);
    const defaults = await read((await connector().scanner.scan(request(['web01']))).body);
    expect(defaults.findings.map((f) => f.severity)).toEqual([4, 2]);
  });

  it('re-scans see what changed on the network', async () => {
    const world = network();
    await start({}, world);
    const before = await read((await connector().scanner.scan(request(['web01']))).body);
    world.remediate('web01', ['CVE-2024-0727']);
    const after = await read((await connector().scanner.scan(request(['web01']))).body);
    expect(before.cves.has('CVE-2024-0727')).toBe(true);
    expect(after.cves).toEqual(new Set(['CVE-2023-44487']));
  });

  it('tests the connection by signing in and asking for the GMP version', async () => {
    expect(await connector().testConnection()).toEqual({
      ok: true,
      message: `gvmd at ${emu.socketPath} speaks GMP 22.4; signed in as patchflow (Admin)`,
    });
    expect(emu.sessions).toEqual([['authenticate', 'get_version']]);
  });

  it('rejects config that is not exactly one of socketPath and host, naming the field', () => {
    const issues = (raw: Record<string, unknown>) => {
      const parsed = openvasConnector.configSchema.safeParse({ username, password, ...raw });
      return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'));
    };
    expect(issues({ socketPath: '/run/gvmd/gvmd.sock', host: 'gvm.corp.example' })).toEqual(['host']);
    expect(issues({})).toEqual(['socketPath']);
    expect(issues({ socketPath: '/run/gvmd/gvmd.sock', caFile: '/etc/gvm/ca.pem' })).toEqual(['caFile']);
    expect(issues({ host: 'gvm.corp.example', certFile: '/etc/gvm/client.pem' })).toEqual(['keyFile']);
    expect(issues({ host: 'gvm.corp.example', password: undefined })).toEqual(['password']);
    expect(issues({ host: 'gvm.corp.example', pollInterval: 'soon' })).toEqual(['pollInterval']);
    expect(issues({ host: 'gvm.corp.example', rejectUnauthorized: 'false', port: '9391' })).toEqual([]);
    const fromEnv = connectorSettingsFromEnv(openvasConnector, {
      OPENVAS_HOST: 'gvm.corp.example',
      OPENVAS_CA_FILE: '/etc/gvm/cacert.pem',
      OPENVAS_REJECT_UNAUTHORIZED: 'true',
      OPENVAS_USERNAME: username,
      OPENVAS_PASSWORD: password,
      OPENVAS_SCAN_TIMEOUT: '8h',
    });
    expect(openvasConnector.configSchema.parse(fromEnv)).toMatchObject({
      host: 'gvm.corp.example',
      port: 9390,
      caFile: '/etc/gvm/cacert.pem',
      rejectUnauthorized: true,
      scanTimeout: '8h',
      pollInterval: '10s',
      requestTimeout: '60s',
      portListId: '33d0cd82-57c6-11e1-8ed1-406186ea4fc5',
      scanConfigId: 'daba56c8-73ec-11df-a475-002264764cea',
      scannerId: '08b69003-5fc2-4037-a479-93b440211c73',
    });
    expect(() =>
      createConnectorRegistry().configure(
        { openvas: { username, password, host: 'gvm', socketPath: '/s' } },
        quietDeps,
      ),
    ).toThrow(/connectors\.openvas\.host: set either socketPath/);
  });
});

describe('the GMP emulator', () => {
  let emu: GmpEmulator;
  beforeEach(async () => {
    emu = await new GmpEmulator(network(), { username, password }).start();
  });
  afterEach(() => emu.close());

  /** Sends raw commands on one connection and collects the answers, each read to its closing root tag. */
  async function converse(commands: string[]): Promise<string[]> {
    const socket = net.createConnection(emu.socketPath);
    const answers: string[] = [];
    let buffer = '';
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        buffer += chunk.toString('utf8');
        const answer = /^\s*<(\w+)[^>]*?(\/>|>[\s\S]*?<\/\1>)/;
        for (let m = answer.exec(buffer); m; m = answer.exec(buffer)) {
          answers.push(m[0].trim());
          buffer = buffer.slice(m[0].length);
        }
        if (answers.length === commands.length) resolve();
      });
      // All at once, as one write: the emulator must split the stream into commands itself.
      socket.write(commands.join(''));
    });
    socket.destroy();
    return answers;
  }

  it('allows only get_version before authenticate, then refuses bad credentials and unknown commands', async () => {
    const answers = await converse([
      '<get_tasks/>',
      '<get_version/>',
      '<authenticate><credentials><username>patchflow</username><password>nope</password></credentials></authenticate>',
      `<authenticate><credentials><username>patchflow</username><password>${password}</password></credentials></authenticate>`,
      '<get_coffee/>',
      '<get_tasks task_id="00000000-0000-4000-8000-000000000000"/>',
    ]);
    expect(answers[0]).toBe('<gmp_response status="401" status_text="Authenticate first"/>');
    expect(answers[1]).toMatch(/^<get_version_response status="200" status_text="OK"><version>22\.4<\/version>/);
    expect(answers[2]).toBe('<authenticate_response status="400" status_text="Authentication failed"/>');
    expect(answers[3]).toMatch(/^<authenticate_response status="200".*<role>Admin<\/role>/);
    expect(answers[4]).toBe('<gmp_response status="400" status_text="Bogus command name"/>');
    expect(answers[5]).toMatch(/status="404" status_text="Failed to find task/);
  });
});
