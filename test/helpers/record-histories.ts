/**
 * Records workflow histories for the replay tests (test/integration/replay.test.ts): runs real
 * demo cycles — approved, rejected, expired — on a fresh dev server and saves every workflow's
 * history. Re-record only when an incompatible change is intended and versioned; otherwise the
 * saved histories are what keeps changes to running workflows honest.
 *
 *   node --import tsx test/helpers/record-histories.ts [outDir] [label]
 *
 * `label` prefixes the file names, so that histories of each workflow generation are kept side by side.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { approveCycle, rejectCycle, startCycle } from '../../app/cycles.ts';
import { principalOfUser } from '../../security/index.ts';
import type { AppContext } from '../../app/context.ts';
import { seedDemoRecords, writeDemoFleet } from '../../demo/seed.ts';
import { configureRegistry, connectTemporalClient } from '../../runtime/context.ts';
import { createPatchflowWorker } from '../../runtime/worker.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { resolveTemporalCli } from '../../runtime/temporal-cli.ts';
import { getCycle } from '../../db/repositories/cycles.ts';
import { migrateToLatest, openDatabase } from '../../db/knex.ts';
import { createLogger } from '../../kernel/logger.ts';
import { withDatabase } from './global-setup.ts';

const outDir = path.resolve(process.argv[2] ?? 'test/fixtures/histories');
const label = process.argv[3] ? `${process.argv[3]}.` : '';
const adminUrl = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `patchflow_rec_${process.pid}`;

const cli = resolveTemporalCli({ build: false });
const env = await TestWorkflowEnvironment.createLocal({
  server: { executable: { type: 'existing-path', path: cli }, ip: '127.0.0.1', ui: false },
});
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`create database ${dbName}`);
const db = openDatabase({ url: withDatabase(adminUrl, dbName), dataDir: '' });
try {
  await migrateToLatest(db);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-record-'));
  writeDemoFleet(dataDir);
  await seedDemoRecords(db);
  const settings = loadSettings({
    PATCHFLOW_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: 'record',
    PATCHFLOW_APPROVAL_TIMEOUT: '5m',
    PATCHFLOW_APPROVAL_REMIND_EVERY: '1s',
  });
  const logger = createLogger({}, 'warn');
  const ctx: AppContext = {
    settings,
    db,
    logger,
    registry: configureRegistry(settings, logger),
    temporal: await connectTemporalClient(settings.temporal),
  };
  const worker = await createPatchflowWorker(ctx);
  await worker.runUntil(async () => {
    const waitFor = async (id: string, phase: string) => {
      while ((await getCycle(db, id)).phase !== phase) await sleep(200);
    };
    const approved = await startCycle(ctx, await principalOfUser(db, 'carol'), { demo: true });
    await waitFor(approved.cycle.id, 'approval');
    await approveCycle(ctx, await principalOfUser(db, 'alice'), approved.cycle.id, { channel: 'cli' });
    const rejected = await startCycle(ctx, await principalOfUser(db, 'carol'), {
      demo: true,
      hosts: ['app-01'],
    });
    await waitFor(rejected.cycle.id, 'approval');
    await rejectCycle(ctx, await principalOfUser(db, 'bob'), rejected.cycle.id, {
      reason: 'change freeze',
      channel: 'cli',
    });
    // A request may shorten the timeout (never lengthen it): this one expires while the recorder waits.
    const expired = await startCycle(ctx, await principalOfUser(db, 'carol'), {
      demo: true,
      hosts: ['app-01'],
      policy: { approval: { timeout: '3s' } },
    });
    const cycles = { approved: approved.cycle.id, rejected: rejected.cycle.id, expired: expired.cycle.id };
    for (const id of Object.values(cycles)) await waitFor(id, 'done');
    await sleep(2000); // the review child records its facts after the parent finishes
    mkdirSync(outDir, { recursive: true });
    for (const [scenario, id] of Object.entries(cycles)) {
      const executions = ctx.temporal.workflow.list({ query: `WorkflowId STARTS_WITH "patch-cycle-${id}"` });
      for await (const wf of executions) {
        // proto3 JSON as the CLI writes it: the format historyFromJSON reads.
        const history: unknown = JSON.parse(
          execFileSync(
            cli,
            ['workflow', 'show', '--address', env.address, '--workflow-id', wf.workflowId, '--output', 'json'],
            { encoding: 'utf8' },
          ),
        );
        const file = path.join(outDir, `${label}${scenario}.${wf.type}.json`);
        writeFileSync(file, JSON.stringify({ workflowId: wf.workflowId, workflowType: wf.type, history }, null, 1));
        console.log(`recorded ${file}`);
      }
    }
  });
  await ctx.temporal.connection.close();
} finally {
  await db.destroy();
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
  await env.teardown();
}
