import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PATCH } from '../../demo/seed.ts';
import { renderCycle } from '../../bin/commands/cycles.ts';
import { assetInputSchema, upsertAssets } from '../../db/repositories/assets.ts';
import { loadChangeView } from '../../db/repositories/changes.ts';
import type { CycleDetail } from '../../db/repositories/cycles.ts';
import { buildChangeCard } from '../../integrations/kit/chat/card.ts';
import type { SimulatedFleet } from '../../integrations/simulator/fleet.ts';
import { api, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

/**
 * The staging group's application as checks see it: `/health` answers 200 "ok" (or 500 for the
 * hosts in `broken`), and `/work` answers after `slowMs` on hosts the patch is installed on.
 */
class StagingApp {
  readonly broken = new Set<string>();
  slowMs = 0;
  private readonly server: http.Server;
  url = '';

  constructor(isPatched: (host: string) => boolean) {
    this.server = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://app');
      const host = u.searchParams.get('host') ?? '';
      if (u.pathname === '/health') {
        if (this.broken.has(host)) res.writeHead(500).end('database connection refused');
        else res.writeHead(200).end('ok');
        return;
      }
      const delay = isPatched(host) ? this.slowMs : 0;
      setTimeout(() => res.writeHead(200).end('done'), delay);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('staging checks: the staging group is tested before the CAB is asked', () => {
  let stack: TestStack;
  let app: StagingApp;
  let serial = 0;
  const fleet = () => stack.ctx.registry.role('simulator', 'deployer') as SimulatedFleet;

  beforeAll(async () => {
    const config = path.join(mkdtempSync(path.join(os.tmpdir(), 'patchflow-staging-')), 'config.json');
    writeFileSync(config, JSON.stringify({ connectors: { ansible: {}, simulator: {} } }));
    stack = await startStack({ env: { PATCHFLOW_CONFIG: config, PATCHFLOW_DEPLOYER: 'simulator' } });
    app = await new StagingApp((host) => fleet().isInstalled(host, DEMO_PATCH.vendorRef)).start();
  });
  afterAll(async () => {
    await stack?.stop();
    await app?.close();
  });

  /** A cycle over one staging host and one ring host, with the checks given; returns its id once testing is over. */
  async function cycleWithChecks(stagingChecks: Record<string, unknown>) {
    serial += 1;
    const staging = `stg-${serial}-01`;
    const ringHost = `stg-${serial}-web`;
    await upsertAssets(stack.ctx.db, [
      assetInputSchema.parse({
        hostname: staging,
        criticality: 4,
        platform: 'linux',
        source: 'test',
        patchGroup: 'staging',
      }),
      assetInputSchema.parse({ hostname: ringHost, criticality: 3, platform: 'linux', source: 'test' }),
    ]);
    const res = await api<CycleDetail>(
      stack,
      'POST',
      '/api/cycles',
      { patches: [DEMO_PATCH.id], hosts: [staging, ringHost], policy: { deployment: { stagingChecks } } },
      'carol',
    );
    if (res.status !== 201) throw new Error(`cycle start failed: ${JSON.stringify(res.body)}`);
    const id = res.body.cycle.id;
    const after = await waitForCycle(stack, id, (d) => d.cycle.phase === 'approval' || d.cycle.phase === 'done');
    return { id, staging, after };
  }

  const checks = () => ({
    functional: [{ name: 'health', http: { url: `${app.url}/health?host={hostname}`, contains: 'ok' } }],
    // Loopback answers in about a millisecond, give or take what a busy machine adds: 100 ms is noise here.
    performance: [
      {
        name: 'checkout',
        http: { url: `${app.url}/work?host={hostname}` },
        samples: 3,
        maxSlowdownPercent: 50,
        toleranceMs: 100,
      },
    ],
  });

  it('passing checks are recorded and shown to the approvers on the card and in cycle status', async () => {
    const { id, staging, after } = await cycleWithChecks(checks());
    expect(after.cycle.phase).toBe('approval');
    expect(after.stagingChecks).toEqual([
      {
        name: 'checkout',
        kind: 'performance',
        hostname: staging,
        passed: true,
        detail: expect.stringMatching(/^median \d+ ms vs \d+ ms before/),
      },
      {
        name: 'health',
        kind: 'functional',
        hostname: staging,
        passed: true,
        detail: expect.stringMatching(/^HTTP 200 in \d+ ms$/),
      },
    ]);
    // The gate gathers the change request as it opens; the card is built from it.
    const stagingFact = async () =>
      buildChangeCard(await loadChangeView(stack.ctx.db, id), new Map()).facts.find((f) => f.label === 'Staging')
        ?.value;
    await expect.poll(stagingFact, { timeout: 30_000 }).toMatch(/; 2 of 2 staging check\(s\) passed$/);
    expect(renderCycle(after)).toContain('staging checks: 2 of 2 passed');
    expect((await api(stack, 'POST', `/api/cycles/${id}/reject`, { reason: 'test done' }, 'alice')).status).toBe(200);
  });

  it('a failed functional check stops the cycle before the CAB is asked, saying what it saw', async () => {
    app.broken.add(`stg-${serial + 1}-01`);
    const { id, after } = await cycleWithChecks(checks());
    expect(after.cycle.status).toBe('halted');
    expect(after.cycle.summary['reason']).toMatch(
      /^the staging group failed its checks \(1 of 2 staging check\(s\) passed; failed: health on stg-\d+-01 \(HTTP 500 from .*, expected 2xx\)\); no approval was requested$/,
    );
    expect(await stack.ctx.db('change_requests').where({ cycle_id: id })).toEqual([]);
    expect(renderCycle(after)).toMatch(/FAILED {2}health \(functional\) on stg-\d+-01: HTTP 500/);
  });

  it('a patch that slows the staging host beyond the allowed share fails its performance check', async () => {
    app.slowMs = 400;
    try {
      const { after } = await cycleWithChecks(checks());
      expect(after.cycle.status).toBe('halted');
      const perf = after.stagingChecks.find((c) => c.kind === 'performance');
      expect(perf).toMatchObject({ passed: false, detail: expect.stringMatching(/, over the 50% allowed\)$/) });
    } finally {
      app.slowMs = 0;
    }
  });

  it('refuses a check it cannot run, naming the field', async () => {
    const res = await api<{ error: { message: string; details: { path: string[]; message: string }[] } }>(
      stack,
      'POST',
      '/api/cycles',
      {
        patches: [DEMO_PATCH.id],
        hosts: ['stg-1-01'],
        policy: { deployment: { stagingChecks: { functional: [{ name: 'health', http: { url: 'not a url' } }] } } },
      },
      'carol',
    );
    expect(res.status).toBe(400);
    expect(res.body.error.details).toContainEqual(
      expect.objectContaining({ path: ['deployment', 'stagingChecks', 'functional', 0, 'http', 'url'] }),
    );
  });
});
