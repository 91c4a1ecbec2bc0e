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
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { approveCycle, rejectCycle, startCycle } from '../../app/cycles.ts';
import { principalOfUser } from '../../security/index.ts';
import { seedDemoRecords, writeDemoFleet } from '../../demo/seed.ts';
import { connectContext } from '../../runtime/context.ts';
import { createPatchflowWorker } from '../../runtime/worker.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { getCycle } from '../../db/repositories/cycles.ts';
import { createLogger } from '../../kernel/logger.ts';
import { onScratchStack, saveCycleHistories } from './recording.ts';

const outDir = path.resolve(process.argv[2] ?? 'test/fixtures/histories');
const label = process.argv[3] ? `${process.argv[3]}.` : '';

await onScratchStack('rec', async (stack) => {
  const { db } = stack;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-record-'));
  writeDemoFleet(dataDir);
  await seedDemoRecords(db);
  const settings = loadSettings({
    PATCHFLOW_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_TASK_QUEUE: 'record',
    PATCHFLOW_APPROVAL_TIMEOUT: '5m',
    PATCHFLOW_APPROVAL_REMIND_EVERY: '1s',
  });
  const ctx = await connectContext(settings, db, createLogger({}, 'warn'));
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
    await saveCycleHistories(
      stack,
      ctx.temporal,
      cycles,
      outDir,
      (scenario, wf) => `${label}${scenario}.${wf.type}.json`,
    );
  });
  await ctx.temporal.connection.close();
});
