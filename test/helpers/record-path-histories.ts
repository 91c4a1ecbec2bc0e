/**
 * Records workflow histories of the rollout's and the gate's other paths for the replay tests
 * (test/integration/replay.test.ts), beside the demo paths of record-histories.ts: rollback at a
 * threshold, a large ring's batch children, soak and health check, reminders and escalation to
 * expiry, pause/resume/cancel Updates, a batch that fails for good, a cancel from Temporal, a
 * cycle queued behind another, failed staging checks and the end of the approved window. Runs on
 * the fleet simulator against a fresh dev server and database.
 *
 *   node --import tsx test/helpers/record-path-histories.ts [outDir]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { approveCycle, startCycle } from '../../app/cycles.ts';
import { controlCycle } from '../../app/cycle-control.ts';
import { DEMO_PATCH, seedDemoRecords } from '../../demo/seed.ts';
import { assetInputSchema, upsertAssets } from '../../db/repositories/assets.ts';
import { getCycle } from '../../db/repositories/cycles.ts';
import { upsertUser } from '../../db/repositories/users.ts';
import { createLogger } from '../../kernel/logger.ts';
import { connectContext } from '../../runtime/context.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { createPatchflowWorker } from '../../runtime/worker.ts';
import { principalOfUser } from '../../security/index.ts';
import { cycleWorkflowId } from '../../workflows/ids.ts';
import { onScratchStack, saveCycleHistories } from './recording.ts';

const outDir = path.resolve(process.argv[2] ?? 'test/fixtures/histories');

await onScratchStack('recpaths', async (stack) => {
  const { db } = stack;
  await seedDemoRecords(db);
  // Each scenario brings its own rings and limits: a policy change only an admin may make.
  await upsertUser(db, { id: 'admin', roles: ['admin'] });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-record-paths-'));
  const config = path.join(dataDir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      connectors: {
        simulator: {
          minLatencyMs: 150,
          maxLatencyMs: 150,
          failHosts: ['thr-c4-002', 'thr-c4-003'],
          brokenHosts: ['brk-c4-002'],
        },
      },
    }),
  );
  const settings = loadSettings({
    PATCHFLOW_CONFIG: config,
    PATCHFLOW_DATA_DIR: dataDir,
    PATCHFLOW_DEPLOYER: 'simulator',
    PATCHFLOW_DEPLOYMENT_ATTEMPTS: '1',
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_TASK_QUEUE: 'record-paths',
  });
  const ctx = await connectContext(settings, db, createLogger({}, 'warn'));
  const as = (user: string) => principalOfUser(db, user);
  const phaseOf = async (id: string) => (await getCycle(db, id)).phase;
  const waitFor = async (id: string, done: (phase: string, status: string) => boolean) => {
    for (;;) {
      const c = await getCycle(db, id);
      if (done(c.phase, c.status)) return;
      await sleep(100);
    }
  };
  const hosts = async (prefix: string, perTier: Record<number, number>, patchGroup?: string) => {
    const list = Object.entries(perTier).flatMap(([tier, n]) =>
      Array.from({ length: n }, (_, i) => ({
        hostname: `${prefix}-c${tier}-${String(i + 1).padStart(3, '0')}`,
        criticality: Number(tier),
      })),
    );
    await upsertAssets(
      db,
      list.map((h) =>
        assetInputSchema.parse({ ...h, platform: 'linux', source: 'record', ...(patchGroup ? { patchGroup } : {}) }),
      ),
    );
    return list.map((h) => h.hostname);
  };
  const start = async (hostnames: string[], policy: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    (await startCycle(ctx, await as('admin'), { patches: [DEMO_PATCH.id], hosts: hostnames, policy, ...extra })).cycle
      .id;
  const approved = async (
    hostnames: string[],
    deployment: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ) => {
    const id = await start(hostnames, { deployment }, extra);
    await waitFor(id, (phase) => phase === 'approval' || phase === 'done');
    if ((await phaseOf(id)) === 'approval') {
      while ((await db('change_requests').where({ cycle_id: id }).first()) === undefined) await sleep(100);
      await approveCycle(ctx, await as('alice'), id, { channel: 'cli' });
    }
    return id;
  };
  const test = (concurrency: number) => [{ name: 'test', criticality: [4], maxConcurrency: concurrency }];
  const deployed = async (id: string) => (await db('deployments').where({ cycle_id: id, phase: 'deployment' })).length;

  const worker = await createPatchflowWorker(ctx);
  const cycles: Record<string, string> = {};
  await worker.runUntil(async () => {
    cycles['threshold-rollback'] = await approved(await hosts('thr', { 4: 8 }), {
      rings: [{ name: 'test', criticality: [4], maxConcurrency: 2, errorThreshold: { count: 1 } }],
    });
    cycles['batch-children'] = await approved(await hosts('chl', { 4: 22 }), { rings: test(1) });
    cycles['soak-health'] = await approved(await hosts('sok', { 4: 2, 3: 1 }), {
      rings: [...test(2), { name: 'pilot', criticality: [3], maxConcurrency: 2 }],
      soak: '1s',
      healthCheck: true,
    });
    cycles['escalation-expired'] = await start(await hosts('esc', { 4: 1 }), {
      approval: { remindEvery: '1s', maxReminders: 2, escalateAfter: '2s', timeout: '4s' },
    });
    const controlled = await approved(await hosts('ctl', { 4: 10 }), { rings: test(1) });
    cycles['pause-resume-cancel'] = controlled;
    while ((await deployed(controlled)) < 2) await sleep(50);
    await controlCycle(ctx, await as('carol'), controlled, 'pause', { reason: 'incident' });
    await sleep(1000);
    await controlCycle(ctx, await as('carol'), controlled, 'resume', {});
    while ((await deployed(controlled)) < 5) await sleep(50);
    await controlCycle(ctx, await as('carol'), controlled, 'cancel', { reason: 'window moved' });
    cycles['failed-compensated'] = await approved(await hosts('brk', { 4: 4 }), { rings: test(2) });
    const cancelled = await approved(await hosts('tcn', { 4: 10 }), { rings: test(1) });
    cycles['temporal-cancel'] = cancelled;
    while ((await deployed(cancelled)) < 2) await sleep(50);
    await ctx.temporal.workflow.getHandle(cycleWorkflowId(cancelled)).cancel();
    const shared = await hosts('que', { 4: 4 });
    const holder = await approved(shared, { rings: test(1) });
    cycles['queue-holder'] = holder;
    await waitFor(holder, (phase) => phase === 'deployment');
    cycles['queued'] = await approved(shared.slice(0, 2), { rings: test(1) });
    cycles['staging-checks-failed'] = await start(
      [...(await hosts('stg', { 4: 1 }, 'staging')), ...(await hosts('stw', { 3: 1 }))],
      {
        deployment: { stagingChecks: { functional: [{ name: 'app-check', command: ['false'] }] } },
      },
    );
    const now = Date.now();
    cycles['approved-window-end'] = await approved(
      await hosts('awe', { 4: 60 }),
      { rings: test(1), batchDuration: '1s' },
      { window: { start: new Date(now).toISOString(), end: new Date(now + 6000).toISOString() } },
    );
    for (const id of Object.values(cycles)) await waitFor(id, (phase) => phase === 'done');
    await sleep(2000); // review children record their facts after the parent finishes
  });

  // Batch children of one ring differ by their id's tail (`deployment-test-0`); the name keeps it.
  await saveCycleHistories(
    stack,
    ctx.temporal,
    cycles,
    outDir,
    (scenario, wf) => `paths.${scenario}.${wf.type}.${wf.idTail}.json`,
  );
  await ctx.temporal.connection.close();
});
