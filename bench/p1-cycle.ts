import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { AppContext } from '../app/context.ts';
import { approveCycle, startCycle } from '../app/cycles.ts';
import { principalOfUser } from '../security/index.ts';
import { DEMO_PATCH, demoUsers } from '../demo/seed.ts';
import { connectContext } from '../runtime/context.ts';
import { createPatchflowWorker } from '../runtime/worker.ts';
import { loadSettings } from '../runtime/settings.ts';
import { resolveTemporalCli } from '../runtime/temporal-cli.ts';
import type { Db } from '../db/knex.ts';
import { getCycle } from '../db/repositories/cycles.ts';
import { upsertUser } from '../db/repositories/users.ts';
import { createLogger } from '../kernel/logger.ts';
import { cycleWorkflowId } from '../workflows/ids.ts';
import type { Benchmark } from './run.ts';
import { withScratchDatabase } from './scratch-database.ts';

/**
 * P1: a 10,000-asset cycle over four rings with the instant fleet simulator, against a bare
 * workflow running as many no-op activities on the same dev server. Goals: ≤ 1.3× and ≥ 200 assets/s.
 */

const assets = 10_000;
const batchSize = 50;
const bareWorkflows = fileURLToPath(new URL('./p1-bare-workflow.ts', import.meta.url));

async function seed(db: Db): Promise<void> {
  // Tiers 4…1 land in the rings test, pilot, broad and critical: 2,500 hosts each.
  await db.raw(
    `insert into assets (hostname, criticality, platform, source) select 'sim-' || lpad(i::text, 5, '0'), 1 + i % 4, 'linux', 'bench' from generate_series(1, ${assets}) i`,
  );
  await db('patches').insert({
    id: DEMO_PATCH.id,
    title: DEMO_PATCH.title,
    vendor_ref: DEMO_PATCH.vendorRef,
    vendor: 'bench',
    classification: 'Security Updates',
    severity: 'Critical',
    platform: 'linux',
    target_version: DEMO_PATCH.targetVersion,
  });
  for (const u of demoUsers) await upsertUser(db, u);
}

/** Every execution the cycle started (children, continued runs): activities scheduled and the longest history. */
async function histories(
  ctx: AppContext,
  cycleId: string,
): Promise<{ activities: number; workflows: number; largest: number; largestId: string }> {
  let activities = 0;
  let workflows = 0;
  let largest = 0;
  let largestId = '';
  for await (const w of ctx.temporal.workflow.list({ query: `WorkflowId STARTS_WITH "${cycleWorkflowId(cycleId)}"` })) {
    const events = (await ctx.temporal.workflow.getHandle(w.workflowId, w.runId).fetchHistory()).events ?? [];
    workflows += 1;
    activities += events.filter((e) => e.activityTaskScheduledEventAttributes).length;
    if (events.length > largest) [largest, largestId] = [events.length, w.workflowId];
  }
  return { activities, workflows, largest, largestId };
}

export const p1Cycle: Benchmark = {
  name: 'p1-cycle',
  summary: `a ${assets.toLocaleString('en')}-asset cycle over 4 rings (simulator, batches of ${batchSize}) vs a bare workflow with as many activities`,
  async run() {
    const server = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: resolveTemporalCli({ build: false }) },
        ip: '127.0.0.1',
        ui: false,
        log: { format: 'pretty', level: 'warn' },
      },
    });
    try {
      await withScratchDatabase('p1', async (db, url) => {
        await seed(db);
        const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-bench-p1-'));
        const config = path.join(dataDir, 'config.json');
        writeFileSync(config, JSON.stringify({ connectors: { simulator: { concurrency: batchSize } } }));
        const settings = loadSettings({
          PATCHFLOW_CONFIG: config,
          DATABASE_URL: url,
          PATCHFLOW_DATA_DIR: dataDir,
          PATCHFLOW_DEPLOYER: 'simulator',
          TEMPORAL_ADDRESS: server.address,
          TEMPORAL_TASK_QUEUE: 'bench-p1',
        });
        const logger = createLogger({}, 'warn');
        const ctx = await connectContext(settings, db, logger);
        const worker = await createPatchflowWorker(ctx);
        const bare = await Worker.create({
          connection: worker.main.options.connection!,
          taskQueue: 'bench-p1-bare',
          workflowsPath: bareWorkflows,
          activities: { noop: async () => undefined },
        });
        const bareRun = async (count: number) => {
          const started = performance.now();
          await ctx.temporal.workflow.execute('bareActivitiesWorkflow', {
            taskQueue: 'bench-p1-bare',
            workflowId: `bare-${count}-${Date.now()}`,
            args: [count],
          });
          return (performance.now() - started) / 1000;
        };
        await Promise.all([
          worker.run(),
          bare.run(),
          (async () => {
            try {
              await bareRun(50); // warm both workers' caches before measuring
              const started = performance.now();
              const rings = ['test', 'pilot', 'broad', 'critical'].map((name, i) => ({
                name,
                criticality: [4 - i],
                maxConcurrency: batchSize,
              }));
              // The operator's configured rings: a coordinator's request may not widen them.
              ctx.settings.policy.deployment.rings = rings;
              const { cycle } = await startCycle(ctx, await principalOfUser(ctx.db, 'carol'), {
                patches: [DEMO_PATCH.id],
              });
              // The CAB approves as soon as the gate opens: the bench measures the rollout, not people.
              for (;;) {
                try {
                  await approveCycle(ctx, await principalOfUser(ctx.db, 'alice'), cycle.id, {});
                  break;
                } catch {
                  await new Promise((r) => setTimeout(r, 20));
                }
              }
              await ctx.temporal.workflow.getHandle(cycleWorkflowId(cycle.id)).result();
              const cycleSeconds = (performance.now() - started) / 1000;
              const done = await getCycle(db, cycle.id);
              const h = await histories(ctx, cycle.id);
              const bareSeconds = await bareRun(h.activities);
              console.log(
                `cycle ${done.status}: ${assets.toLocaleString('en')} assets in ${cycleSeconds.toFixed(2)} s = ${Math.round(assets / cycleSeconds)} assets/s; ${h.activities} activities in ${h.workflows} workflow executions`,
              );
              console.log(`bare workflow, ${h.activities} no-op activities: ${bareSeconds.toFixed(2)} s`);
              console.log(`largest history: ${h.largest} events (${h.largestId})`);
              console.log(
                `ratio cycle/bare: ${(cycleSeconds / bareSeconds).toFixed(2)}×; goals ≤ 1.3× and ≥ 200 assets/s`,
              );
            } finally {
              worker.shutdown();
              bare.shutdown();
            }
          })(),
        ]);
        await ctx.temporal.connection.close();
      });
    } finally {
      await server.teardown();
    }
  },
};
