import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { DeployTarget, ScanReport } from '../../integrations/contract/index.ts';
import { connectorEnvVariables, connectorSettingsFromEnv } from '../../integrations/contract/env.ts';
import { ConnectorRegistry } from '../../integrations/contract/registry.ts';
import { readScanReport } from '../../integrations/kit/scanners/report.ts';
import type { ScannedFinding, ScannedHost } from '../../integrations/kit/scanners/types.ts';
import type { nessusConfigSchema } from '../../integrations/nessus/config.ts';
import { nessusConnector } from '../../integrations/nessus/index.ts';
import { InputError, NotAllowedError, PatchflowError, UpstreamError } from '../../kernel/errors.ts';
import { NessusEmulator, type NessusEmulatorOptions } from '../emulators/nessus.ts';
import { ScanWorld } from '../emulators/scan-world.ts';
import { instantiate, quietDeps } from '../helpers/connectors.ts';
import { expectedNessusCounts } from '../helpers/scan-reports.ts';

const accessKey = '2c935f507d0686382bb383e4daf92eef8b4a349b9b9de2bf85343c0f7e7265db';
const secretKey = '0553ac5757e8e741d6ef034dc06618106e7855887428e662adcde8862d017cf9';
/** The "advanced" template's uuid in the recorded template list. */
const advancedTemplate = 'ad629e16-03b6-8c1d-cef6-ef8c9dd3c658d24bd260ef5f9e66';
const tlsDir = fileURLToPath(new URL('../fixtures/nessus-api/tls/', import.meta.url));
const certFile = `${tlsDir}test-only-127.0.0.1.cert.pem`;

function network(): ScanWorld {
  return new ScanWorld([
    {
      hostname: 'web01',
      ip: '10.20.0.11',
      fqdn: 'web01.corp.example',
      operatingSystem: 'Microsoft Windows Server 2022 Standard Build 20348',
      mac: '00:50:56:a6:60:bc',
      vulnerabilities: [
        {
          pluginId: '187795',
          name: 'KB5034129: Windows Server 2022 Security Update (January 2024)',
          severity: 4,
          cves: ['CVE-2024-20674', 'CVE-2024-20700'],
          port: '445',
          protocol: 'tcp',
          cvss3Vector: 'CVSS:3.0/AV:A/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H',
          cvss3BaseScore: 9,
          mskb: ['5034129'],
          solution: 'Apply Security Update 5034129.',
          seeAlso: ['https://support.microsoft.com/help/5034129', 'http://www.nessus.org/u?0cb17c10'],
        },
        { pluginId: '10107', name: 'HTTP Server Type and Version', severity: 0, cves: [], port: '80' },
      ],
    },
    {
      hostname: 'db01',
      ip: '10.20.0.12',
      fqdn: 'db01.corp.example',
      operatingSystem: 'Linux Kernel 5.15 on Ubuntu 22.04',
      vulnerabilities: [
        {
          pluginId: '190000',
          name: 'Ubuntu 22.04 LTS : OpenSSL vulnerabilities (USN-6622-1)',
          severity: 2,
          cves: ['CVE-2023-5678'],
          // Nessus wrote v3 vectors without their prefix for years.
          cvss3Vector: 'AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L',
          cvss3BaseScore: 5.3,
          solution: 'Update the affected packages.',
        },
      ],
    },
    {
      hostname: 'app01',
      ip: '10.20.0.13',
      vulnerabilities: [
        { pluginId: '190001', name: 'Apache Tomcat 9.0.x < 9.0.85', severity: 3, cves: ['CVE-2024-23672'] },
      ],
    },
  ]);
}

type Overrides = Partial<z.input<typeof nessusConfigSchema>>;

function connectorFor(url: string, overrides: Overrides = {}) {
  return instantiate(nessusConnector, {
    url,
    accessKey,
    secretKey,
    pollInterval: '10ms',
    maxPollInterval: '40ms',
    scanTimeout: '30s',
    exportTimeout: '10s',
    requestTimeout: '5s',
    retry: { attempts: 3, backoff: '10ms', maxWait: '10s' },
    ...overrides,
  });
}

const target = (hostname: string, address?: string): DeployTarget => ({
  assetId: `asset-${hostname}`,
  hostname,
  address,
});

async function parse(report: ScanReport): Promise<{ hosts: ScannedHost[]; findings: ScannedFinding[] }> {
  const hosts: ScannedHost[] = [];
  const findings: ScannedFinding[] = [];
  await readScanReport(report.body, {
    format: 'nessus',
    sink: { host: (h) => hosts.push(h), finding: (f) => findings.push(f) },
  });
  return { hosts, findings };
}

describe('nessus scanner connector', () => {
  let world: ScanWorld;
  let emu: NessusEmulator;
  const start = async (opts: Partial<NessusEmulatorOptions> = {}) => {
    await emu?.close();
    emu = await new NessusEmulator(world, { accessKey, secretKey, ...opts }).start();
    return emu;
  };
  beforeEach(async () => {
    world = network();
    await start();
  });
  afterEach(() => emu.close());

  it('scans only the cycle targets, streams the .nessus report and names the run', async () => {
    const notes: string[] = [];
    const report = await connectorFor(emu.url).scanner.scan({
      cycleId: 'c-42',
      targets: [target('web01', '10.20.0.11'), target('db01'), target('ghost01')],
      onProgress: (n) => notes.push(n),
    });

    // The run covered exactly the cycle's targets (address before hostname), not the scan's own list.
    expect(emu.launches).toHaveLength(1);
    expect(emu.launches[0]?.targets).toEqual(['10.20.0.11', 'db01', 'ghost01']);
    const run = emu.run(emu.launches[0]!.runUuid)!;
    expect(report).toMatchObject({
      format: 'nessus',
      reference: `nessus scan ${emu.launches[0]!.scanId} run ${run.uuid}`,
      startedAt: new Date(run.creationDate * 1000).toISOString(),
    });
    expect(emu.scans).toEqual([
      expect.objectContaining({ name: 'patchflow-verify', templateUuid: advancedTemplate, enabled: false }),
    ]);
    expect(notes.some((n) => n.endsWith(' running'))).toBe(true);
    expect(notes.some((n) => n.endsWith(' completed'))).toBe(true);

    const { hosts, findings } = await parse(report);
    // ghost01 names no host: Nessus leaves dead hosts out; app01 was not a target.
    expect(hosts.map((h) => h.key)).toEqual(['10.20.0.11', 'db01']);
    expect(hosts[0]).toMatchObject({ ips: ['10.20.0.11'], names: ['web01.corp.example', 'web01'] });
    const kb = findings.find((f) => f.pluginId === '187795');
    expect(kb).toMatchObject({
      hostKey: '10.20.0.11',
      severity: 4,
      cves: ['CVE-2024-20674', 'CVE-2024-20700'],
      cvssV3Vector: 'CVSS:3.0/AV:A/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H',
      cvssV3Score: 9,
      port: '445',
    });
    expect(findings.find((f) => f.pluginId === '190000')).toMatchObject({
      hostKey: 'db01',
      cvssV3Vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L',
    });
    // The parser and a count of the report's text agree.
    const expected = expectedNessusCounts(emu.lastReport);
    expect(findings.filter((f) => f.severity > 0)).toHaveLength(expected.findings);
    expect(expected).toMatchObject({ hosts: 2, findings: 2, cves: 3 });
    expect(emu.lastReport).toMatch(/<mskb>5034129<\/mskb>/);
    expect(emu.lastReport).toMatch(/<tag name="HOST_START">\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}<\/tag>/);
  });

  it('re-launches its one scan for the next cycle, and the new run reports what changed since', async () => {
    const connector = connectorFor(emu.url);
    await parse(await connector.scanner.scan({ targets: [target('web01')] }));
    world.remediate('web01', ['CVE-2024-20674', 'CVE-2024-20700']);
    const second = await parse(await connector.scanner.scan({ targets: [target('web01'), target('app01')] }));

    expect(emu.scans).toHaveLength(1);
    expect(emu.launches.map((l) => l.targets)).toEqual([['web01'], ['web01', 'app01']]);
    expect(second.findings.filter((f) => f.severity > 0).map((f) => [f.hostKey, f.cves])).toEqual([
      ['app01', ['CVE-2024-23672']],
    ]);
  });

  it('creates the scan from the configured policy, or the configured template, without guessing', async () => {
    await start({ policies: [{ id: 42, name: 'Credentialed patch audit', template_uuid: advancedTemplate }] });
    await parse(
      await connectorFor(emu.url, { policyId: 42, folderId: 18 }).scanner.scan({ targets: [target('db01')] }),
    );
    expect(emu.scans[0]).toMatchObject({ policyId: 42, folderId: 18, templateUuid: advancedTemplate });

    await start();
    const basic = '731a8e52-3ea6-a291-ec0a-d2ff0619c19d7bd788d6be818b65';
    await parse(await connectorFor(emu.url, { templateUuid: basic }).scanner.scan({ targets: [target('db01')] }));
    expect(emu.scans[0]?.templateUuid).toBe(basic);
    expect(emu.requests).not.toContain('GET /editor/scan/templates');
  });

  it('never sends a target that would widen the scan: ranges, CIDR blocks, lists, patterns', async () => {
    const notes: string[] = [];
    await parse(
      await connectorFor(emu.url).scanner.scan({
        targets: [
          target('web01', '10.20.0.11'),
          target('subnet', '10.20.0.0/16'),
          target('10.20.0-255.1-254'),
          target('web*'),
          target('web02,web03'),
          target('link6'),
        ],
        onProgress: (n) => notes.push(n),
      }),
    );
    expect(emu.launches[0]?.targets).toEqual(['10.20.0.11']);
    expect(notes.find((n) => n.startsWith('not sent to Nessus'))).toContain('10.20.0.0/16');

    const err = await connectorFor(emu.url)
      .scanner.scan({ targets: [target('web*')] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(emu.launches).toHaveLength(1);
  });

  it('rejects wrong API keys with a clear 401 that names the keys, which no retry fixes', async () => {
    const err = await connectorFor(emu.url, { secretKey: 'not-the-secret' })
      .scanner.scan({ targets: [target('web01')] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAllowedError);
    expect((err as NotAllowedError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/HTTP 401 — Invalid Credentials/);
    expect((err as Error).message).toMatch(/NESSUS_ACCESS_KEY and NESSUS_SECRET_KEY/);
    expect(emu.launches).toEqual([]);

    const check = await connectorFor(emu.url, { accessKey: 'nope' }).testConnection();
    expect(check).toMatchObject({ ok: false, message: expect.stringMatching(/401/) });
  });

  it('waits out a 429 for the Retry-After Nessus names, then goes on', async () => {
    emu.rateLimitNext(1, 1);
    const notes: string[] = [];
    const began = Date.now();
    const report = await connectorFor(emu.url).scanner.scan({
      targets: [target('db01')],
      onProgress: (n) => notes.push(n),
    });
    expect(Date.now() - began).toBeGreaterThanOrEqual(950);
    expect(notes.find((n) => /HTTP 429/.test(n))).toMatch(/retrying in 1s \(attempt 2 of 3\)/);
    expect((await parse(report)).hosts).toHaveLength(1);
  });

  it('fails fast when the rate limit lasts longer than retry.maxWait', async () => {
    emu.rateLimitNext(1, 600);
    const err = await connectorFor(emu.url)
      .scanner.scan({ targets: [target('db01')] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(/asks to wait 600s \(HTTP 429\), longer than retry.maxWait 10s/);
  });

  it('retries a 503 with back-off, and an outage that outlasts the attempts is a retryable upstream failure', async () => {
    emu.failNextRequests(503, 2);
    expect((await parse(await connectorFor(emu.url).scanner.scan({ targets: [target('db01')] }))).hosts).toHaveLength(
      1,
    );

    emu.failNextRequests(502, 10);
    const err = await connectorFor(emu.url)
      .scanner.scan({ targets: [target('db01')] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/HTTP 502 .*\(after 3 attempts\)/);
  });

  it('stops the Nessus run when the caller cancels, and the error is the cancellation, not an outage', async () => {
    await start({ pollsToFinish: 100_000 });
    const controller = new AbortController();
    const pending = connectorFor(emu.url).scanner.scan({
      targets: [target('web01')],
      signal: controller.signal,
      onProgress: (n) => n.endsWith(' running') && controller.abort(),
    });
    const err = await pending.catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(err).not.toBeInstanceOf(PatchflowError);
    expect(emu.stops).toEqual([emu.launches[0]?.scanId]);
    expect(emu.run(emu.launches[0]!.runUuid)?.status).toBe('canceled');
  });

  it('reports a run Nessus aborted, naming the status', async () => {
    emu.endNextRunWith('aborted');
    const err = await connectorFor(emu.url)
      .scanner.scan({ targets: [target('web01')] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/^Nessus scan \d+ run [0-9a-f-]+ ended "aborted"/);
  });

  it('a launch over the licence target limit is aborted by Nessus and reported so', async () => {
    await start({ maxTargets: 2 });
    const err = await connectorFor(emu.url)
      .scanner.scan({ targets: [target('web01'), target('db01'), target('app01')] })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/ended "aborted".*more targets than the licence allows/);
  });

  it('stops a run that outlives scanTimeout and says so', async () => {
    await start({ pollsToFinish: 100_000 });
    const err = await connectorFor(emu.url, { scanTimeout: '300ms' })
      .scanner.scan({ targets: [target('web01')] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(
      /did not finish within scanTimeout 300ms \(last status "running"\); it was stopped/,
    );
    expect(emu.stops).toHaveLength(1);
  });

  it('a second cycle waits while another run of the scan is still going', async () => {
    await start({ pollsToFinish: 100_000 });
    const controller = new AbortController();
    let running!: () => void;
    const isRunning = new Promise<void>((resolve) => (running = resolve));
    const first = connectorFor(emu.url).scanner.scan({
      targets: [target('web01')],
      signal: controller.signal,
      onProgress: (n) => n.endsWith(' running') && running(),
    });
    await isRunning;
    const err = await connectorFor(emu.url)
      .scanner.scan({ targets: [target('db01')] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'NotReadyError', retryable: true });
    expect(emu.launches).toHaveLength(1);
    controller.abort();
    await first.catch(() => undefined);
  });

  it('testConnection names the user and what the next scan will do', async () => {
    expect(await connectorFor(emu.url).testConnection()).toEqual({
      ok: true,
      message: `Nessus at ${emu.url} as patchflow@corp.example; Patchflow will create scan "patchflow-verify" from template ${advancedTemplate}`,
    });
    await parse(await connectorFor(emu.url).scanner.scan({ targets: [target('db01')] }));
    expect((await connectorFor(emu.url).testConnection()).message).toMatch(/re-launches scan 1000 "patchflow-verify"/);
  });

  describe('over TLS, as an on-prem Nessus serves with its own CA', () => {
    let front: { url: string; close: () => Promise<void> };
    beforeEach(async () => {
      front = await tlsFront(emu);
    });
    afterEach(() => front.close());

    it('refuses an untrusted certificate, trusts the configured caFile, and streams the report through it', async () => {
      expect(await connectorFor(front.url).testConnection()).toMatchObject({
        ok: false,
        message: expect.stringMatching(/self-signed certificate/),
      });
      const trusted = connectorFor(front.url, { caFile: certFile });
      expect(await trusted.testConnection()).toMatchObject({ ok: true });
      expect((await parse(await trusted.scanner.scan({ targets: [target('web01')] }))).hosts).toHaveLength(1);
      expect(await connectorFor(front.url, { verifyTls: false }).testConnection()).toMatchObject({ ok: true });
    });
  });
});

describe('nessus connector settings', () => {
  const valid = { url: 'https://nessus.corp.example:8834', accessKey, secretKey };
  const issuesOf = (raw: unknown) =>
    nessusConnector.configSchema.safeParse(raw).error?.issues.map((i) => ({ path: i.path, message: i.message }));

  it('names the field that is missing or wrong', () => {
    expect(issuesOf({ ...valid, url: undefined })).toEqual([
      { path: ['url'], message: expect.stringMatching(/NESSUS_URL/) },
    ]);
    expect(issuesOf({ ...valid, url: 'nessus.corp.example:8834' })?.[0]?.path).toEqual(['url']);
    expect(issuesOf({ ...valid, url: 'ftp://nessus.corp.example' })?.[0]?.path).toEqual(['url']);
    expect(issuesOf({ ...valid, secretKey: undefined })?.[0]?.path).toEqual(['secretKey']);
    expect(issuesOf({ ...valid, pollInterval: '10 seconds' })?.[0]?.path).toEqual(['pollInterval']);
    expect(issuesOf(valid)).toBeUndefined();
  });

  it('a bad setting fails start-up naming connectors.nessus.<field>', () => {
    const configure = (raw: unknown) => new ConnectorRegistry([nessusConnector]).configure({ nessus: raw }, quietDeps);
    const bad = (() => {
      try {
        configure({ ...valid, url: 'not a url' });
      } catch (e) {
        return e;
      }
    })();
    expect(bad).toBeInstanceOf(InputError);
    expect((bad as InputError).details[0]?.path).toEqual(['connectors', 'nessus', 'url']);
    expect(() => configure({ ...valid, caFile: '/nonexistent/nessus-ca.pem' })).toThrow(
      expect.objectContaining({ details: [{ path: ['connectors', 'nessus', 'caFile'], message: 'unreadable' }] }),
    );
  });

  it('reads NESSUS_* variables, secrets included, and stays off without the URL', () => {
    expect(connectorEnvVariables(nessusConnector)).toMatchObject({
      url: 'NESSUS_URL',
      accessKey: 'NESSUS_ACCESS_KEY',
      secretKey: 'NESSUS_SECRET_KEY',
      caFile: 'NESSUS_CA_FILE',
      'retry.attempts': 'NESSUS_RETRY_ATTEMPTS',
    });
    const env = {
      NESSUS_URL: 'https://cloud.tenable.com',
      NESSUS_ACCESS_KEY: accessKey,
      NESSUS_SECRET_KEY: secretKey,
      NESSUS_VERIFY_TLS: 'false',
      NESSUS_RETRY_ATTEMPTS: '2',
    };
    expect(nessusConnector.configSchema.parse(connectorSettingsFromEnv(nessusConnector, env))).toMatchObject({
      url: 'https://cloud.tenable.com',
      verifyTls: false,
      retry: { attempts: 2, backoff: '2s' },
      scanName: 'patchflow-verify',
    });
    expect(connectorSettingsFromEnv(nessusConnector, { NESSUS_ACCESS_KEY: accessKey })).toBeUndefined();
  });
});

/** An HTTPS front for the emulator with the test-only self-signed certificate, as an on-prem Nessus answers. */
async function tlsFront(emu: NessusEmulator): Promise<{ url: string; close: () => Promise<void> }> {
  const server = https.createServer(
    { key: readFileSync(`${tlsDir}test-only-127.0.0.1.key.pem`), cert: readFileSync(certFile) },
    (req, res) => {
      const upstream = http.request(
        `${emu.url}${req.url ?? '/'}`,
        { method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
