import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { DEMO_PATCH } from '../../demo/seed.ts';
import type { CyclePlan } from '../../app/plan.ts';
import { renderPlan } from '../../bin/commands/cycles.ts';
import { assetInputSchema, upsertAssets } from '../../db/repositories/assets.ts';
import { ringAssetIds, type CycleDetail } from '../../db/repositories/cycles.ts';
import type { SimulatedFleet } from '../../integrations/simulator/fleet.ts';
import { resolveTemporalCli } from '../../runtime/temporal-cli.ts';
import { cycleWorkflowId, phaseWorkflowId } from '../../workflows/ids.ts';
import { SlackDriver } from '../helpers/chat-drivers.ts';
import { api, finished, inPhase, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/patchflow.mjs', import.meta.url));

/** Simulated hosts named `<prefix>-<ring tier>-<n>`; criticality places them in the default rings (4 test … 1 critical). */
async function addHosts(stack: TestStack, prefix: string, perTier: Record<number, number>): Promise<string[]> {
  const hosts = Object.entries(perTier).flatMap(([tier, n]) =>
    Array.from({ length: n }, (_, i) => ({
      hostname: `${prefix}-c${tier}-${String(i + 1).padStart(3, '0')}`,
      criticality: Number(tier),
    })),
  );
  await upsertAssets(
    stack.ctx.db,
    hosts.map((h) => assetInputSchema.parse({ ...h, platform: 'linux', source: 'test' })),
  );
  return hosts.map((h) => h.hostname);
}

function simulatorStack(sim: Record<string, unknown>, env: Record<string, string> = {}): Promise<TestStack> {
  const config = path.join(mkdtempSync(path.join(os.tmpdir(), 'patchflow-rollout-')), 'config.json');
  writeFileSync(config, JSON.stringify({ connectors: { ansible: {}, simulator: sim } }));
  return startStack({
    env: { PATCHFLOW_CONFIG: config, PATCHFLOW_DEPLOYER: 'simulator', PATCHFLOW_APPROVAL_TIMEOUT: '2m', ...env },
  });
}

const fleetOf = (stack: TestStack) => stack.ctx.registry.role('simulator', 'deployer') as SimulatedFleet;
const statuses = (d: CycleDetail, ring: string) =>
  d.rings.find((r) => r.ring === ring)?.hosts.map((h) => h.status) ?? [];
const count = (list: string[], status: string) => list.filter((s) => s === status).length;
const cycle = async (stack: TestStack, id: string) => (await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`)).body;

async function approvedCycle(
  stack: TestStack,
  hosts: string[],
  deployment: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await api<CycleDetail>(
    stack,
    'POST',
    '/api/cycles',
    { patches: [DEMO_PATCH.id], hosts, policy: { deployment }, ...extra },
    // Each test brings its own rings and limits, which for a coordinator would be a policy change.
    'admin',
  );
  if (res.status !== 201) throw new Error(`cycle start failed: ${JSON.stringify(res.body)}`);
  const id = res.body.cycle.id;
  await waitForCycle(stack, id, inPhase('approval'));
  expect((await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice')).status).toBe(200);
  return id;
}

describe('rollout engine with the fleet simulator', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await simulatorStack(
      {
        failHosts: [
          'thr-c3-004',
          'thr-c3-017',
          'thr-c3-031',
          'bud-c4-002',
          'bud-c4-009',
          'bud-c3-003',
          'bud-c3-011',
          'bud-c3-015',
          // The first batch of the sample ring fails whole.
          ...Array.from({ length: 10 }, (_, i) => `smp-c4-${String(i + 1).padStart(3, '0')}`),
        ],
        brokenHosts: ['brk-c4-005'],
        hangHosts: ['hng-c4-002'],
      },
      { PATCHFLOW_DEPLOYMENT_ATTEMPTS: '2', PATCHFLOW_HOST_TIMEOUT: '2s' },
    );
  });
  afterAll(async () => stack?.stop());

  it('halts at the ring error threshold, rolls the failed ring back and leaves later rings untouched', async () => {
    const hosts = await addHosts(stack, 'thr', { 3: 40, 2: 10 });
    const rings = [
      { name: 'pilot', criticality: [3], maxConcurrency: 5, errorThreshold: { count: 2 } },
      { name: 'broad', criticality: [2], maxConcurrency: 5 },
    ];
    const id = await approvedCycle(stack, hosts, { rings });
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toMatch(
      /^ring pilot: 3 of 35 hosts attempted failed \(40 in the ring\), over the 2-host threshold; later rings were not touched; rolled back ring pilot \(32 hosts\)$/,
    );
    const pilot = statuses(done, 'pilot');
    expect(count(pilot, 'failed')).toBe(3);
    expect(count(pilot, 'patched')).toBe(0);
    expect(count(pilot, 'rolled_back')).toBeGreaterThan(0);
    // Batches of five by hostname: the rollout stopped after the batch with the third failure (031–035), not at the ring's end.
    const deployed = await stack.ctx
      .db('deployments')
      .where({ cycle_id: id, phase: 'deployment' })
      .count<{ n: string }[]>('* as n');
    expect(Number(deployed[0]!.n)).toBe(35);
    expect(statuses(done, 'broad').every((s) => s === 'pending')).toBe(true);
    for (const h of hosts) expect(fleetOf(stack).isInstalled(h, DEMO_PATCH.vendorRef), h).toBe(false);
    // The batch children and the parent stayed small.
    const history = await stack.ctx.temporal.workflow.getHandle(phaseWorkflowId(id, 'deployment')).fetchHistory();
    expect(history.events!.length).toBeLessThan(10_000);
  });

  it('halts when the global failure budget is spent and, by policy, rolls back the rings that completed', async () => {
    const hosts = await addHosts(stack, 'bud', { 4: 20, 3: 20, 2: 5 });
    const rings = [
      { name: 'test', criticality: [4], maxConcurrency: 4, errorThreshold: { percent: 50 } },
      { name: 'pilot', criticality: [3], maxConcurrency: 4, errorThreshold: { percent: 50 } },
      { name: 'broad', criticality: [2], maxConcurrency: 4 },
    ];
    const id = await approvedCycle(stack, hosts, {
      rings,
      failureBudget: { count: 3 },
      rollback: { failedRing: true, completedRings: true },
    });
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toMatch(
      /^the global failure budget \(3-host of 45\) is spent: 4 hosts failed by ring pilot; rolled back ring pilot \(\d+ hosts?\), ring test \(18 hosts\)$/,
    );
    expect(count(statuses(done, 'test'), 'failed')).toBe(2);
    expect(count(statuses(done, 'test'), 'rolled_back')).toBe(18);
    expect(statuses(done, 'broad').every((s) => s === 'pending')).toBe(true);
    expect(done.cycle.summary['rollbacks']).toEqual([
      expect.objectContaining({ ring: 'pilot', failed: 0 }),
      { ring: 'test', rolledBack: 18, failed: 0 },
    ]);
    for (const h of hosts) expect(fleetOf(stack).isInstalled(h, DEMO_PATCH.vendorRef), h).toBe(false);
  });

  it('large rings run as child workflows of batches and the cycle completes', async () => {
    const hosts = await addHosts(stack, 'big', { 4: 150, 3: 150 });
    const rings = [
      { name: 'test', criticality: [4], maxConcurrency: 5 },
      { name: 'pilot', criticality: [3], maxConcurrency: 50 },
    ];
    const id = await approvedCycle(stack, hosts, { rings });
    const done = await waitForCycle(stack, id, finished, 90_000);
    expect(done.cycle.status).toBe('completed');
    expect(count(statuses(done, 'test'), 'patched')).toBe(150);
    // 30 batches of five: over the inline limit, so the test ring ran in a child workflow.
    const child = await stack.ctx.temporal.workflow.getHandle(`patch-cycle-${id}-deployment-test-0`).describe();
    expect(child.type).toBe('ringBatchesWorkflow');
  }, 120_000);

  it('soaks between rings and halts when the health check finds patched hosts broken', async () => {
    const hosts = await addHosts(stack, 'soak', { 4: 10, 3: 5 });
    const rings = [
      { name: 'test', criticality: [4], maxConcurrency: 5 },
      { name: 'pilot', criticality: [3], maxConcurrency: 5 },
    ];
    const id = await approvedCycle(stack, hosts, { rings, soak: '4s' });
    await expect
      .poll(
        async () =>
          (
            await stack.ctx
              .db('audit_events')
              .where({ subject_id: id })
              .whereRaw(`data->>'note' like '%soaking for 4s%'`)
          ).length,
        { timeout: 20_000 },
      )
      .toBe(1);
    // During the soak three hosts lose the patch, as a host that rolled itself back would.
    const broken = ['soak-c4-001', 'soak-c4-002', 'soak-c4-003'].map((hostname) => ({ assetId: hostname, hostname }));
    await fleetOf(stack).rollback({
      cycleId: id,
      ring: 'test',
      patch: { patchId: DEMO_PATCH.id, title: DEMO_PATCH.title, vendorRef: DEMO_PATCH.vendorRef },
      targets: broken,
    });
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toMatch(
      /^ring test failed its health check after the soak: 3 of 10 hosts unhealthy \(soak-c4-001: .*; rolled back ring test \(\d+ hosts\)$/,
    );
    expect(statuses(done, 'pilot').every((s) => s === 'pending')).toBe(true);
  });

  it('judges a percentage over the hosts attempted: a 100-host ring halts after its first failed batch, not after 21 failures', async () => {
    const hosts = await addHosts(stack, 'smp', { 4: 100 });
    const id = await approvedCycle(stack, hosts, {
      rings: [{ name: 'test', criticality: [4], maxConcurrency: 10 }],
      maxFailedPercent: 20,
      minSample: 10,
    });
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toBe(
      'ring test: 10 of 10 hosts attempted failed (100 in the ring), over the 20% threshold; later rings were not touched',
    );
    const deployed = await stack.ctx
      .db('deployments')
      .where({ cycle_id: id, phase: 'deployment' })
      .count<{ n: string }[]>('* as n');
    expect(Number(deployed[0]!.n)).toBe(10);
  });

  it('a retry leaves hosts to an earlier attempt still heard from, and asks the deployer before re-deploying a host whose result was lost', async () => {
    const hosts = await addHosts(stack, 'zmb', { 4: 3 });
    const id = await approvedCycle(stack, hosts, { rings: [{ name: 'test', criticality: [4], maxConcurrency: 3 }] });
    await waitForCycle(stack, id, finished);
    const fleet = fleetOf(stack);
    const changesBefore = fleet.changes;
    // zmb-c4-001 was patched, but the write that recorded it was lost, and its attempt still looks alive.
    const [asset] = (await stack.ctx.db('assets').where({ hostname: 'zmb-c4-001' }).select('id')) as { id: string }[];
    const row = { cycle_id: id, asset_id: asset!.id, phase: 'deployment' };
    const [target] = (await stack.ctx.db('cycle_targets').where({ cycle_id: id, asset_id: asset!.id })) as {
      patch_id: string;
    }[];
    await stack.ctx.db('deployments').where(row).delete();
    await stack.ctx.db('cycle_targets').where({ cycle_id: id, asset_id: asset!.id }).update({ status: 'pending' });
    await stack.ctx.db('deployments').insert({
      ...row,
      patch_id: target!.patch_id,
      idempotency_key: `${id}:${asset!.id}:${target!.patch_id}`,
      attempt: 1,
      outcome: 'running',
    });
    const acts = createActivities({
      db: stack.ctx.db,
      registry: stack.ctx.registry,
      logger: stack.ctx.logger,
      deployerId: 'simulator',
    });
    const retry = () =>
      new MockActivityEnvironment({ attempt: 2, heartbeatTimeoutMs: 30_000 }).run(acts.deployRing, {
        cycleId: id,
        ring: 'test',
        phase: 'deployment' as const,
        assetIds: [asset!.id],
      });
    await expect(retry()).rejects.toThrow(/^attempt 1 is still working on zmb-c4-001 \(heard from \d+s ago\)/);
    expect(fleet.changes).toBe(changesBefore);

    // Silent for longer than the heartbeat timeout: the retry takes over, and the deployer confirms the patch is there.
    await stack.ctx
      .db('deployments')
      .where(row)
      .update({ heartbeat_at: stack.ctx.db.raw(`now() - interval '5 minutes'`) });
    expect(await retry()).toMatchObject({ total: 1, patched: 1, failed: 0 });
    expect(fleet.changes).toBe(changesBefore);
    const attempts = (await stack.ctx.db('deployments').where(row).orderBy('attempt')) as {
      attempt: number;
      outcome: string;
      message: string;
    }[];
    expect(attempts.map((a) => `${a.attempt} ${a.outcome}`)).toEqual(['1 interrupted', '2 patched']);
    expect(attempts[1]!.message).toMatch(
      /^patched by an earlier attempt whose result was lost; simulator confirms it before any re-deploy/,
    );
  });

  it('a deployer call that hangs is given up on its own silence, not the 2 h activity timeout, and the ring rolled back', async () => {
    const hosts = await addHosts(stack, 'hng', { 4: 3 });
    const id = await approvedCycle(stack, hosts, { rings: [{ name: 'test', criticality: [4], maxConcurrency: 3 }] });
    const done = await waitForCycle(stack, id, finished, 60_000);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toMatch(
      /^the rollout failed: no progress from simulator \(deploy DEMO-APP-2\.4\.1 on hng-c4-002\) for 2s: given up as hung; rolled back ring test \(3 hosts\)$/,
    );
    // The second attempt asked the deployer about the first's hosts and re-deployed only the silent one, which hung again.
    const reconciled = (await stack.ctx
      .db('deployments as d')
      .join('assets as a', 'a.id', 'd.asset_id')
      .where({ 'd.cycle_id': id, 'd.attempt': 2 })
      .whereRaw(`d.evidence->>'reconciled' = 'true'`)
      .pluck('a.hostname')) as string[];
    expect(reconciled.sort()).toEqual(['hng-c4-001', 'hng-c4-003']);
    const tries = (await stack.ctx
      .db('deployments as d')
      .join('assets as a', 'a.id', 'd.asset_id')
      .where({ 'd.cycle_id': id, 'd.phase': 'deployment', 'a.hostname': 'hng-c4-002' })
      .orderBy('d.attempt')
      .pluck('d.outcome')) as string[];
    expect(tries).toEqual(['interrupted', 'interrupted']);
    for (const h of hosts) expect(fleetOf(stack).isInstalled(h, DEMO_PATCH.vendorRef), h).toBe(false);
  });

  it('a ring whose deployer fails for good is rolled back, the cycle ends on record and its review starts', async () => {
    const hosts = await addHosts(stack, 'brk', { 4: 6, 3: 2 });
    const rings = [
      { name: 'test', criticality: [4], maxConcurrency: 3 },
      { name: 'pilot', criticality: [3], maxConcurrency: 2 },
    ];
    const id = await approvedCycle(stack, hosts, { rings });
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toBe(
      'the rollout failed: simulated: the deployer lost its session to brk-c4-005 mid-install; rolled back ring test (6 hosts)',
    );
    // The first batch was patched and the second's outcome never came back: all six are undone.
    expect(done.cycle.summary['rollbacks']).toEqual([{ ring: 'test', rolledBack: 6, failed: 0 }]);
    for (const h of hosts) expect(fleetOf(stack).isInstalled(h, DEMO_PATCH.vendorRef), h).toBe(false);
    expect(statuses(done, 'pilot').every((s) => s === 'pending')).toBe(true);
    // Both attempts of the broken batch are on record.
    const broken = done.rings.flatMap((r) => r.hosts).find((h) => h.hostname === 'brk-c4-005');
    expect(broken?.attempts).toBeGreaterThanOrEqual(2);
    await expect
      .poll(async () => (await stack.ctx.db('reviews').where({ cycle_id: id }).first()) as unknown, { timeout: 30_000 })
      .toMatchObject({ status: 'collecting' });
  });

  it('a retried batch never patches a host twice', async () => {
    const hosts = await addHosts(stack, 'idem', { 4: 6 });
    const id = await approvedCycle(stack, hosts, { rings: [{ name: 'test', criticality: [4], maxConcurrency: 3 }] });
    await waitForCycle(stack, id, finished);
    const fleet = fleetOf(stack);
    const changesBefore = fleet.changes;
    const acts = createActivities({
      db: stack.ctx.db,
      registry: stack.ctx.registry,
      logger: stack.ctx.logger,
      deployerId: 'simulator',
    });
    const batch = (await ringAssetIds(stack.ctx.db, id, 'test')).slice(0, 3);
    // The same batch delivered again, as Temporal would after a lost worker: the recorded successes stand.
    const again = await new MockActivityEnvironment({ attempt: 2 }).run(acts.deployRing, {
      cycleId: id,
      ring: 'test',
      phase: 'deployment' as const,
      assetIds: batch,
    });
    expect(again).toMatchObject({ total: 3, patched: 3, failed: 0 });
    expect(fleet.changes).toBe(changesBefore);
    const keys = (
      (await stack.ctx
        .db('deployments')
        .where({ cycle_id: id })
        .whereIn('outcome', ['patched', 'already_compliant'])
        .select('idempotency_key')) as { idempotency_key: string }[]
    ).map((r) => r.idempotency_key);
    expect(keys).toHaveLength(6);
    expect(new Set(keys).size).toBe(6);
  });
});

describe('maintenance windows, pause and resume (one second per simulated host)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await simulatorStack({ minLatencyMs: 1000, maxLatencyMs: 1000 });
  });
  afterAll(async () => stack?.stop());

  it('waits for the window to open and starts no batch that would end after the cutoff', async () => {
    const hosts = await addHosts(stack, 'win', { 4: 20 });
    // A window opening in 10 s for 14 s with a 5 s cutoff: batches (estimated 2 s) may start until 7 s into it.
    const opens = new Date(Math.ceil((Date.now() + 10_000) / 1000) * 1000);
    const windows = {
      timezone: 'UTC',
      weekly: [
        {
          days: [['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][opens.getUTCDay()]],
          start: opens.toISOString().slice(11, 19),
          duration: '14s',
        },
      ],
      cutoff: '5s',
    };
    const id = await approvedCycle(stack, hosts, {
      rings: [{ name: 'test', criticality: [4], maxConcurrency: 2 }],
      windows,
      batchDuration: '2s',
    });
    const waiting = await waitForCycle(stack, id, (d) => d.cycle.status === 'scheduled');
    expect(waiting.cycle.phase).toBe('deployment');
    const cutoffAt = opens.getTime() + 9000;
    const stalled = await waitForCycle(
      stack,
      id,
      (d) => Date.now() > cutoffAt + 2000 && d.cycle.status === 'scheduled',
      40_000,
    );
    const attempts = (await stack.ctx.db('deployments').where({ cycle_id: id })) as {
      started_at: Date;
      finished_at: Date | null;
    }[];
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.length).toBeLessThan(20);
    for (const a of attempts) {
      expect(a.started_at.getTime()).toBeGreaterThanOrEqual(opens.getTime());
      // Within the estimate: each batch (about 1 s here) ends before the cutoff.
      expect(a.finished_at!.getTime()).toBeLessThanOrEqual(cutoffAt + 500);
    }
    expect(count(statuses(stalled, 'test'), 'pending')).toBe(20 - attempts.length);
    const note = (await stack.ctx
      .db('audit_events')
      .where({ subject_id: id, action: 'cycle.deployment' })
      .orderBy('seq', 'desc')
      .first()) as { data: { note: string } };
    expect(note.data.note).toMatch(/waiting for the maintenance window .* UTC \(cutoff/);
    // The rest waits a week for the next window; a coordinator cancels it instead.
    expect((await api(stack, 'POST', `/api/cycles/${id}/cancel`, { reason: 'rescheduled' }, 'carol')).status).toBe(200);
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('cancelled');
    // `cycle status --watch` stops at a cancelled cycle, as at every terminal state (it used to poll forever).
    const watched = await run(process.execPath, [cli, 'cycle', 'status', id, '--watch', '--json'], {
      env: { PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_DATA_DIR: stack.dataDir },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect((JSON.parse(watched.stdout) as CycleDetail).cycle.status).toBe('cancelled');
  }, 90_000);

  it('a cycle cancelled in Temporal itself rolls back the ring in progress, ends cancelled on record and starts its review', async () => {
    const hosts = await addHosts(stack, 'tcan', { 4: 8 });
    const id = await approvedCycle(stack, hosts, { rings: [{ name: 'test', criticality: [4], maxConcurrency: 2 }] });
    await expect
      .poll(async () => count(statuses(await cycle(stack, id), 'test'), 'patched'), { timeout: 30_000 })
      .toBeGreaterThan(0);
    // An operator's `temporal workflow cancel`, not Patchflow's cancel: the workflow's own scope is cancelled.
    await stack.ctx.temporal.workflow.getHandle(cycleWorkflowId(id)).cancel();
    const done = await waitForCycle(stack, id, finished, 60_000);
    expect(done.cycle.status).toBe('cancelled');
    expect(done.cycle.summary['reason']).toBe('cancelled in Temporal');
    expect(count(statuses(done, 'test'), 'patched')).toBe(0);
    expect(count(statuses(done, 'test'), 'rolled_back')).toBeGreaterThan(0);
    for (const h of hosts) expect(fleetOf(stack).isInstalled(h, DEMO_PATCH.vendorRef), h).toBe(false);
    await expect
      .poll(async () => (await stack.ctx.db('reviews').where({ cycle_id: id }).first()) as unknown, { timeout: 30_000 })
      .toMatchObject({ status: 'collecting' });
  }, 90_000);

  it('stops at the end of the approved change window: no batch starts that would not finish inside it', async () => {
    const hosts = await addHosts(stack, 'appw', { 4: 30 });
    const window = { start: new Date().toISOString(), end: new Date(Date.now() + 20_000).toISOString() };
    const id = await approvedCycle(
      stack,
      hosts,
      { rings: [{ name: 'test', criticality: [4], maxConcurrency: 1 }], batchDuration: '2s' },
      { window },
    );
    const done = await waitForCycle(stack, id, finished, 60_000);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toMatch(
      new RegExp(
        `^the approved change window ends at ${window.end.replace(/\./g, '\\.')} and the next 2s batch would not finish inside it; \\d+ batch\\(es\\) of ring test and any later rings were not deployed`,
      ),
    );
    const attempts = (await stack.ctx.db('deployments').where({ cycle_id: id, phase: 'deployment' })) as {
      started_at: Date;
      finished_at: Date;
    }[];
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.length).toBeLessThan(30);
    // What the window promises: every batch that started finished inside it. (The attempt row's
    // started_at is written after the workflow decided to start the batch, so it lags that decision
    // by the activity's dispatch, tens of milliseconds on a busy machine: not the thing to compare.)
    for (const a of attempts) expect(a.finished_at.getTime()).toBeLessThanOrEqual(Date.parse(window.end));
    // Nothing is undone: what was patched inside the window stays patched.
    expect(count(statuses(done, 'test'), 'patched')).toBe(attempts.length);
  }, 90_000);

  it('two overlapping cycles never patch one host at once: the second queues behind the first and says so', async () => {
    const hosts = await addHosts(stack, 'ovl', { 4: 4 });
    const rings = [{ name: 'test', criticality: [4], maxConcurrency: 1 }];
    const first = await approvedCycle(stack, hosts, { rings });
    await waitForCycle(stack, first, inPhase('deployment'));
    const second = await approvedCycle(stack, hosts.slice(1, 3), { rings });
    const queued = await waitForCycle(stack, second, (d) => d.cycle.status === 'queued');
    expect(queued.cycle.phase).toBe('deployment');
    const status = await run(process.execPath, [cli, 'cycle', 'status', second, '--json'], {
      env: { PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_DATA_DIR: stack.dataDir },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect((JSON.parse(status.stdout) as CycleDetail).cycle.status).toBe('queued');
    const note = (await stack.ctx
      .db('audit_events')
      .where({ subject_id: second, action: 'cycle.deployment' })
      .orderBy('seq', 'desc')
      .first()) as { data: { status: string; note: string } };
    expect(note.data).toEqual({
      status: 'queued',
      note: `queued behind cycle ${first} (phase deployment), which holds 2 of its host × patch pair(s): ovl-c4-002, ovl-c4-003`,
    });

    expect((await waitForCycle(stack, first, finished, 60_000)).cycle.status).toBe('completed');
    const done = await waitForCycle(stack, second, finished, 60_000);
    expect(done.cycle.status).toBe('completed');
    const attempts = (await stack.ctx
      .db('deployments')
      .whereIn('cycle_id', [first, second])
      .where({ phase: 'deployment' })
      .select('cycle_id', 'started_at', 'finished_at')) as { cycle_id: string; started_at: Date; finished_at: Date }[];
    const lastOfFirst = Math.max(...attempts.filter((a) => a.cycle_id === first).map((a) => a.finished_at.getTime()));
    for (const a of attempts.filter((x) => x.cycle_id === second))
      expect(a.started_at.getTime()).toBeGreaterThanOrEqual(lastOfFirst);
    // The first cycle patched them; the second found nothing left to do.
    expect(count(statuses(done, 'test'), 'already_compliant')).toBe(2);
  }, 120_000);

  it('pause holds the rollout between batches; resume finishes it', async () => {
    const hosts = await addHosts(stack, 'pause', { 4: 12 });
    const id = await approvedCycle(stack, hosts, { rings: [{ name: 'test', criticality: [4], maxConcurrency: 2 }] });
    await waitForCycle(stack, id, inPhase('deployment'));
    await expect
      .poll(async () => (await stack.ctx.db('deployments').where({ cycle_id: id })).length, { timeout: 15_000 })
      .toBeGreaterThan(0);
    expect(
      (await api(stack, 'POST', `/api/cycles/${id}/pause`, { reason: 'incident on the storefront' }, 'carol')).status,
    ).toBe(200);
    await sleep(2500);
    const held = (await stack.ctx.db('deployments').where({ cycle_id: id })).length;
    await sleep(3000);
    expect((await stack.ctx.db('deployments').where({ cycle_id: id })).length).toBe(held);
    expect(held).toBeLessThan(12);
    expect((await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`)).body.cycle.status).toBe('paused');
    expect((await api(stack, 'POST', `/api/cycles/${id}/resume`, {}, 'carol')).status).toBe(200);
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('completed');
    expect(count(statuses(done, 'test'), 'patched')).toBe(12);
  }, 90_000);
});

describe('control reaches the rollout before its bookkeeping (chat hangs; 1 s per host)', () => {
  let stack: TestStack;
  const chat = new SlackDriver();
  beforeAll(async () => {
    stack = await simulatorStack({ minLatencyMs: 1000, maxLatencyMs: 1000 }, await chat.start());
  });
  afterAll(async () => {
    await stack?.stop();
    await chat.close();
  });

  it('a pause holds within the batch under way while recording it waits on a hung chat', async () => {
    const hosts = await addHosts(stack, 'slowbk', { 4: 12 });
    const id = await approvedCycle(stack, hosts, { rings: [{ name: 'test', criticality: [4], maxConcurrency: 1 }] });
    const started = async () => (await stack.ctx.db('deployments').where({ cycle_id: id, phase: 'deployment' })).length;
    await expect.poll(started, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(2);
    const release = chat.hang();
    try {
      const atPause = await started();
      const res = await api(stack, 'POST', `/api/cycles/${id}/pause`, { reason: 'incident' }, 'carol');
      expect(res.status).toBe(200);
      // Recording the pause refreshes the card, which now waits on Slack; the rollout does not wait with it.
      await expect.poll(() => chat.heldRequests, { timeout: 30_000 }).toBeGreaterThan(0);
      await sleep(3000);
      // At most the batch that was running and the one that began as the pause was sent.
      expect(await started()).toBeLessThanOrEqual(atPause + 2);
      expect(await started()).toBeLessThan(12);
    } finally {
      release();
    }
    await expect.poll(async () => (await cycle(stack, id)).cycle.status, { timeout: 60_000 }).toBe('paused');
    expect((await api(stack, 'POST', `/api/cycles/${id}/resume`, {}, 'carol')).status).toBe(200);
    const done = await waitForCycle(stack, id, finished, 60_000);
    expect(done.cycle.status).toBe('completed');
    expect(count(statuses(done, 'test'), 'patched')).toBe(12);
  }, 120_000);
});

describe('pause in a large ring, whose batches run in a child workflow (0.3 s per host)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await simulatorStack({ minLatencyMs: 300, maxLatencyMs: 300 });
  });
  afterAll(async () => stack?.stop());

  it('takes hold between two batches of the child, not at the end of the ring', async () => {
    const hosts = await addHosts(stack, 'big', { 4: 30 });
    const id = await approvedCycle(stack, hosts, { rings: [{ name: 'test', criticality: [4], maxConcurrency: 1 }] });
    const deployed = async () =>
      (await stack.ctx.db('deployments').where({ cycle_id: id, phase: 'deployment' })).length;
    await expect.poll(deployed, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(2);
    expect((await api(stack, 'POST', `/api/cycles/${id}/pause`, { reason: 'change freeze' }, 'carol')).status).toBe(
      200,
    );
    await sleep(1500);
    const held = await deployed();
    await sleep(2500);
    expect(await deployed()).toBe(held);
    expect(held).toBeLessThan(30);
    const batches = await stack.ctx.temporal.workflow
      .getHandle(`${phaseWorkflowId(id, 'deployment')}-test-0`)
      .describe();
    expect(batches.status.name).toBe('RUNNING');
    expect((await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`)).body.cycle.status).toBe('paused');

    expect((await api(stack, 'POST', `/api/cycles/${id}/resume`, {}, 'carol')).status).toBe(200);
    const done = await waitForCycle(stack, id, finished, 60_000);
    expect(done.cycle.status).toBe('completed');
    expect(count(statuses(done, 'test'), 'patched')).toBe(30);
  }, 90_000);
});

describe('host activities have their own task queue and worker pool (one slot, 3 s per host)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await simulatorStack(
      { minLatencyMs: 3000, maxLatencyMs: 3000 },
      { PATCHFLOW_HOST_ACTIVITY_CONCURRENCY: '1' },
    );
  });
  afterAll(async () => stack?.stop());

  it('a long rollout holding every host slot does not hold up another cycle’s approval and bookkeeping', async () => {
    const rings = [{ name: 'test', criticality: [4], maxConcurrency: 1 }];
    const busy = await approvedCycle(stack, await addHosts(stack, 'busy', { 4: 6 }), { rings });
    await waitForCycle(stack, busy, inPhase('deployment'));
    const other = await approvedCycle(stack, await addHosts(stack, 'other', { 4: 1 }), { rings });
    const approved = await waitForCycle(stack, other, (d) => d.approvals.length === 1);
    expect(approved.approvals[0]).toMatchObject({ by: 'alice', decision: 'approve' });
    // Scoped, asked for, approved and recorded while the first rollout still holds the only host slot.
    expect((await cycle(stack, busy)).cycle.phase).toBe('deployment');

    const history = await stack.ctx.temporal.workflow.getHandle(phaseWorkflowId(busy, 'deployment')).fetchHistory();
    const queues = new Set(
      history
        .events!.map((e) => e.activityTaskScheduledEventAttributes)
        .filter((a) => a?.activityType?.name === 'deployRing')
        .map((a) => a!.taskQueue!.name),
    );
    expect([...queues]).toEqual([`${stack.ctx.settings.temporal.taskQueue}-hosts`]);
    expect((await waitForCycle(stack, other, finished, 60_000)).cycle.status).toBe('completed');
    expect((await waitForCycle(stack, busy, finished, 60_000)).cycle.status).toBe('completed');
  }, 120_000);
});

describe('a slow host is not mistaken for a dead worker (4 s per host, 1 s heartbeat timeout)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await simulatorStack({ minLatencyMs: 4000, maxLatencyMs: 4000 }, { PATCHFLOW_DEPLOYMENT_HEARTBEAT: '1s' });
  });
  afterAll(async () => stack?.stop());

  it('the worker keeps a silent install alive: one attempt per host, none retried', async () => {
    const hosts = await addHosts(stack, 'slow', { 4: 3 });
    const id = await approvedCycle(stack, hosts, { rings: [{ name: 'test', criticality: [4], maxConcurrency: 3 }] });
    const done = await waitForCycle(stack, id, finished, 60_000);
    expect(done.cycle.status).toBe('completed');
    expect(count(statuses(done, 'test'), 'patched')).toBe(3);
    const attempts = (await stack.ctx
      .db('deployments')
      .where({ cycle_id: id, phase: 'deployment' })
      .select('attempt', 'outcome')) as { attempt: number; outcome: string }[];
    expect(attempts).toEqual(hosts.map(() => ({ attempt: 1, outcome: 'patched' })));
  }, 90_000);
});

describe('pause survives continue-as-new (a dev server that suggests it after 20 events)', () => {
  let server: TestWorkflowEnvironment;
  let stack: TestStack;
  beforeAll(async () => {
    server = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: resolveTemporalCli({ build: false }) },
        ip: '127.0.0.1',
        ui: false,
        log: { format: 'pretty', level: 'warn' },
        extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=20'],
      },
    });
    stack = await simulatorStack({ minLatencyMs: 3000, maxLatencyMs: 3000 }, { TEMPORAL_ADDRESS: server.address });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await server?.teardown();
  });

  it('a pause that arrives during a ring holds the next ring, though the rollout continued as new in between', async () => {
    const hosts = await addHosts(stack, 'can', { 4: 2, 3: 2 });
    const rings = [
      { name: 'test', criticality: [4], maxConcurrency: 2 },
      { name: 'pilot', criticality: [3], maxConcurrency: 2 },
    ];
    const id = await approvedCycle(stack, hosts, { rings });
    await expect
      .poll(async () => (await stack.ctx.db('deployments').where({ cycle_id: id, phase: 'deployment' })).length, {
        timeout: 30_000,
        interval: 100,
      })
      .toBeGreaterThan(0);
    expect(
      (await api(stack, 'POST', `/api/cycles/${id}/pause`, { reason: 'storefront incident' }, 'carol')).status,
    ).toBe(200);

    // Ring test's batch finishes; the rollout continues as new before the pilot ring, and must still hold.
    const deployment = stack.ctx.temporal.workflow.getHandle(phaseWorkflowId(id, 'deployment'));
    await expect
      .poll(
        async () =>
          (await deployment.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes
            ?.continuedExecutionRunId ?? '',
        { timeout: 30_000, interval: 250 },
      )
      .not.toBe('');
    await sleep(4000);
    const pilot = hosts.filter((h) => h.includes('-c3-'));
    const pilotAssets = (await stack.ctx.db('assets').whereIn('hostname', pilot).pluck('id')) as string[];
    expect(await stack.ctx.db('deployments').where({ cycle_id: id }).whereIn('asset_id', pilotAssets)).toHaveLength(0);
    expect((await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`)).body.cycle.status).toBe('paused');

    expect((await api(stack, 'POST', `/api/cycles/${id}/resume`, {}, 'carol')).status).toBe(200);
    const done = await waitForCycle(stack, id, finished, 60_000);
    expect(done.cycle.status).toBe('completed');
    expect([...statuses(done, 'test'), ...statuses(done, 'pilot')]).toEqual([
      'patched',
      'patched',
      'patched',
      'patched',
    ]);
  }, 120_000);
});

describe('backup and rollback on the demo fleet with real ansible-playbook', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ failing: ['web-02'] });
  });
  afterAll(async () => stack?.stop());

  const file = (host: string, ...p: string[]) => path.join(stack.fleet.hostRoot(host), ...p);

  it('plans the demo cycle as a dry run: rings, windows, approvals, fit; nothing is written', async () => {
    const tables = ['cycles', 'cycle_targets', 'deployments', 'audit_events'];
    const counts = async () =>
      Promise.all(tables.map(async (t) => Number(((await stack.ctx.db(t).count('* as n')) as { n: string }[])[0]!.n)));
    const before = await counts();
    const windows = {
      timezone: 'Europe/Berlin',
      weekly: [{ days: ['sat'], start: '22:00', duration: '4h' }],
      cutoff: '30m',
    };
    const res = await api<CyclePlan>(stack, 'POST', '/api/cycles/plan', {
      demo: true,
      policy: { deployment: { windows, batchDuration: '45m' } },
    });
    expect(res.status).toBe(200);
    const plan = res.body;
    expect(plan.staging.hosts).toEqual(['staging-01']);
    expect(plan.rings.map((r) => [r.ring, r.hosts.map((h) => h.hostname)])).toEqual([
      ['test', []],
      ['pilot', ['web-01', 'web-02']],
      ['broad', ['app-01']],
      ['critical', ['db-01']],
    ]);
    expect(plan.rings[1]!.windows[0]).toMatch(
      /^\d{4}-\d{2}-\d{2} 22:00:00–02:00:00 Europe\/Berlin \(cutoff 01:30:00\)$/,
    );
    // Three batches of 45 minutes fit in one window before its cutoff.
    expect(plan.schedule).toMatchObject({ windowsUsed: 1, fitsWindow: true });
    expect(plan.approvals).toMatchObject({ quorum: 1, approvers: ['alice', 'bob'] });
    expect(await counts()).toEqual(before);
    const text = renderPlan(plan);
    expect(text).toContain('ring 2 pilot: 2 host(s) in 1 batch(es) of up to 25, halts over 20% failed');
    expect(text).toContain('schedule: fits in one maintenance window');
  });

  it('backs each host up before patching it, and rolls the failed ring back to 2.4.0', async () => {
    const id = await approvedCycle(stack, ['web-01', 'web-02', 'app-01'], { maxFailedPercent: 20 });
    const done = await waitForCycle(stack, id, finished, 90_000);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toMatch(
      /ring pilot: 1 of 2 hosts attempted failed \(2 in the ring\), over the 20% threshold; later rings were not touched; rolled back ring pilot \(1 host\)/,
    );

    // The backup holds the version from before the install, and was written before the install changed VERSION.
    const backup = file('web-01', 'backups', id, 'VERSION');
    expect(readFileSync(backup, 'utf8').trim()).toBe('2.4.0');
    expect(statSync(backup).mtimeMs).toBeLessThanOrEqual(statSync(file('web-01', 'app', 'VERSION.previous')).mtimeMs);

    // web-01 was patched, then rolled back from the backup; web-02 reverted itself after its failed health check.
    const history = readFileSync(file('web-01', 'patch-history.log'), 'utf8').trim().split('\n');
    expect(history).toEqual([
      expect.stringMatching(new RegExp(`${id} 2\\.4\\.0 -> 2\\.4\\.1$`)),
      expect.stringMatching(new RegExp(`${id} rollback -> 2\\.4\\.0$`)),
    ]);
    for (const h of ['web-01', 'web-02', 'app-01'])
      expect(readFileSync(file(h, 'app', 'VERSION'), 'utf8').trim(), h).toBe('2.4.0');
    const byHost = Object.fromEntries(done.rings.flatMap((r) => r.hosts.map((h) => [h.hostname, h.status])));
    expect(byHost).toMatchObject({ 'web-01': 'rolled_back', 'web-02': 'failed', 'app-01': 'pending' });
  }, 120_000);
});
