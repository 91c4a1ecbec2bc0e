import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CycleDetail } from '../../db/repositories/cycles.ts';
import { GmpEmulator } from '../emulators/gmp.ts';
import { NessusEmulator } from '../emulators/nessus.ts';
import { ScanWorld, type EmulatedHost, type EmulatedVulnerability } from '../emulators/scan-world.ts';
import { api, finished, inPhase, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const RAPID_RESET = 'CVE-2023-44487';
const NEW_FLAW = 'CVE-2026-20805';

/**
 * The demo fleet as a scanner sees it, read from the hosts at scan time: a host whose demo-app is
 * older than 2.4.1 has HTTP/2 Rapid Reset. web-02 keeps it whatever its version (a second, unpatched
 * listener: the patch did not fix this host), and web-01 shows a flaw nobody knew of before.
 */
class DemoFleetWorld extends ScanWorld {
  constructor(
    private readonly version: (host: string) => string,
    private readonly rapidReset: Omit<EmulatedVulnerability, 'cves'>,
    private readonly newFlaw: Omit<EmulatedVulnerability, 'cves'>,
  ) {
    super();
  }

  override find(target: string): EmulatedHost | undefined {
    const hostname = target.toLowerCase();
    if (!['staging-01', 'web-01', 'web-02', 'app-01', 'db-01'].includes(hostname)) return undefined;
    const vulnerabilities: EmulatedVulnerability[] = [];
    if (this.version(hostname) < '2.4.1' || hostname === 'web-02')
      vulnerabilities.push({ ...this.rapidReset, cves: [RAPID_RESET] });
    if (hostname === 'web-01') vulnerabilities.push({ ...this.newFlaw, cves: [NEW_FLAW] });
    const octet = ['staging-01', 'web-01', 'web-02', 'app-01', 'db-01'].indexOf(hostname) + 10;
    return { hostname, ip: `192.0.2.${octet}`, operatingSystem: 'Ubuntu 24.04', vulnerabilities };
  }
}

interface FindingState {
  hostname: string;
  source: string;
  cve_id: string;
  status: string;
  fixed_by: string | null;
}

/** Runs a cycle scoped by the demo findings through to the end, with the stack's verify scanner. */
async function runVerifiedCycle(stack: TestStack): Promise<CycleDetail> {
  const started = await api<CycleDetail>(stack, 'POST', '/api/cycles', { fromFindings: { minScore: 10 } }, 'carol');
  expect(started.status).toBe(201);
  const id = started.body.cycle.id;
  await waitForCycle(stack, id, inPhase('approval'), 120_000);
  expect((await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice')).status).toBe(200);
  return waitForCycle(stack, id, finished, 240_000);
}

async function findingStates(stack: TestStack, cves: string[]): Promise<FindingState[]> {
  return (await stack.ctx
    .db('findings as f')
    .join('assets as a', 'a.id', 'f.asset_id')
    .whereIn('f.cve_id', cves)
    .whereIn('a.hostname', ['web-01', 'web-02'])
    .select('a.hostname', 'f.source', 'f.cve_id', 'f.status', 'f.fixed_by')
    .orderBy(['a.hostname', 'f.cve_id', 'f.source'])) as FindingState[];
}

/** What every scanner's cycle must show: remediated, still vulnerable and newly found, in the database and the record. */
async function expectClosedLoop(stack: TestStack, done: CycleDetail, scanSource: 'nessus' | 'openvas') {
  expect(done.cycle.status).toBe('completed_with_failures');
  const verification = (done.cycle.summary as { verification: Record<string, unknown> }).verification;
  expect(verification).toMatchObject({
    method: 'scan',
    total: 3,
    compliant: 2,
    nonCompliant: 1,
    stillVulnerable: 1,
    newlyFound: 1,
    deployerReported: 0,
    stillVulnerableHosts: ['web-02'],
  });
  expect(verification['remediated']).toBe(1);
  const states = await findingStates(stack, [RAPID_RESET, NEW_FLAW]);
  const web01 = states.filter((s) => s.hostname === 'web-01');
  // Remediated: the demo scan's Rapid Reset finding on web-01 is closed by the re-scan, saying which.
  expect(web01.find((s) => s.cve_id === RAPID_RESET && s.source === 'nessus')).toMatchObject({
    status: 'fixed',
    fixed_by: expect.stringMatching(new RegExp(`^${scanSource}`)),
  });
  // Newly found: open, from the re-scan.
  expect(web01.find((s) => s.cve_id === NEW_FLAW)).toMatchObject({ source: scanSource, status: 'open' });
  // Still vulnerable: web-02's finding stays open, so the next cycle from findings offers it again.
  expect(states.filter((s) => s.hostname === 'web-02' && s.cve_id === RAPID_RESET).map((s) => s.status)).not.toContain(
    'fixed',
  );
  const rows = (await stack.ctx
    .db('verifications as v')
    .join('assets as a', 'a.id', 'v.asset_id')
    .where({ 'v.cycle_id': done.cycle.id })
    .select('a.hostname', 'v.method', 'v.result', 'v.compliant')
    .orderBy('a.hostname')) as { hostname: string; method: string; result: string; compliant: boolean }[];
  expect(rows).toEqual([
    { hostname: 'staging-01', method: 'scan', result: 'remediated', compliant: true },
    { hostname: 'web-01', method: 'scan', result: 'remediated', compliant: true },
    { hostname: 'web-02', method: 'scan', result: 'still_vulnerable', compliant: false },
  ]);
  const plan = await api<{ findings: { targets: { hostname: string }[] } }>(
    stack,
    'POST',
    '/api/cycles/plan',
    { fromFindings: {} },
    'carol',
  );
  expect(plan.body.findings.targets.map((t) => t.hostname)).toContain('web-02');
  expect(plan.body.findings.targets.map((t) => t.hostname)).not.toContain('web-01');
}

describe('verification by re-scan closes the loop (Nessus / Tenable emulator)', () => {
  let stack: TestStack;
  let nessus: NessusEmulator;
  beforeAll(async () => {
    const fleet: { root?: (h: string) => string } = {};
    const version = (h: string) => readFileSync(`${fleet.root!(h)}/app/VERSION`, 'utf8').trim();
    const world = new DemoFleetWorld(
      version,
      { pluginId: '183390', name: 'HTTP/2 Rapid Reset Denial of Service', severity: 3, port: '443', protocol: 'tcp' },
      { pluginId: '297000', name: 'Newly disclosed flaw', severity: 3, port: '443', protocol: 'tcp' },
    );
    nessus = await new NessusEmulator(world, { accessKey: 'a'.repeat(64), secretKey: 'b'.repeat(64) }).start();
    stack = await startStack({
      env: {
        PATCHFLOW_VERIFY_SCANNER: 'nessus',
        NESSUS_URL: nessus.url,
        NESSUS_ACCESS_KEY: 'a'.repeat(64),
        NESSUS_SECRET_KEY: 'b'.repeat(64),
        NESSUS_POLL_INTERVAL: '50ms',
        NESSUS_MAX_POLL_INTERVAL: '200ms',
      },
    });
    fleet.root = stack.fleet.hostRoot;
    expect((await api(stack, 'POST', '/api/demo/seed')).status).toBe(200);
  });
  afterAll(async () => {
    await stack?.stop();
    await nessus?.close();
  });

  it('re-scans exactly the cycle’s hosts after deployment: remediated, still vulnerable and newly found', async () => {
    const done = await runVerifiedCycle(stack);
    expect(nessus.launches).toHaveLength(1);
    expect([...nessus.launches[0]!.targets].sort()).toEqual(['staging-01', 'web-01', 'web-02']);
    await expectClosedLoop(stack, done, 'nessus');
  });
});

describe('verification by re-scan closes the loop (Greenbone GMP emulator)', () => {
  let stack: TestStack;
  let gmp: GmpEmulator;
  beforeAll(async () => {
    const fleet: { root?: (h: string) => string } = {};
    const version = (h: string) => readFileSync(`${fleet.root!(h)}/app/VERSION`, 'utf8').trim();
    const world = new DemoFleetWorld(
      version,
      {
        pluginId: '1.3.6.1.4.1.25623.1.0.170600',
        name: 'HTTP/2 Rapid Reset',
        severity: 3,
        port: '443',
        protocol: 'tcp',
      },
      {
        pluginId: '1.3.6.1.4.1.25623.1.0.999001',
        name: 'Newly disclosed flaw',
        severity: 3,
        port: '443',
        protocol: 'tcp',
      },
    );
    gmp = await new GmpEmulator(world, { username: 'patchflow', password: 'gvm-secret' }).start();
    stack = await startStack({
      env: {
        PATCHFLOW_VERIFY_SCANNER: 'openvas',
        OPENVAS_SOCKET_PATH: gmp.socketPath,
        OPENVAS_USERNAME: 'patchflow',
        OPENVAS_PASSWORD: 'gvm-secret',
        OPENVAS_POLL_INTERVAL: '50ms',
      },
    });
    fleet.root = stack.fleet.hostRoot;
    expect((await api(stack, 'POST', '/api/demo/seed')).status).toBe(200);
  });
  afterAll(async () => {
    await stack?.stop();
    await gmp?.close();
  });

  it('re-scans over GMP: the Nessus finding closes on Greenbone’s evidence, by CVE on the host', async () => {
    const done = await runVerifiedCycle(stack);
    expect(gmp.targets.map((t) => [...t.hosts].sort())).toEqual([['staging-01', 'web-01', 'web-02']]);
    await expectClosedLoop(stack, done, 'openvas');
  });
});
