import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, finished, inPhase, startDemoCycle, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const cli = fileURLToPath(new URL('../../bin/patchflow.mjs', import.meta.url));

/** What the worker processes wrote to stderr, kept so that a failure shows it. */
const workerLog: string[] = [];

/**
 * A worker as operators run it: its own process, configured only through the environment.
 * Its stderr is read continuously: an unread pipe fills up and a write to it blocks the worker.
 */
function startWorkerProcess(stack: TestStack): ChildProcess {
  const child = spawn(process.execPath, [cli, 'worker'], { env: stack.env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => workerLog.push(chunk));
  return child;
}

describe('durability: the worker dies mid-deployment', () => {
  let stack: TestStack;
  const workers: ChildProcess[] = [];
  beforeAll(async () => {
    const stepDelay = path.join(process.env['TMPDIR'] ?? '/tmp', `patchflow-durability-${process.pid}.json`);
    // Each host install takes 2 s, so that the kill lands while ansible-playbook is patching a ring.
    writeFileSync(stepDelay, JSON.stringify({ connectors: { ansible: { extraVars: { patchflow_step_delay: 2 } } } }));
    stack = await startStack({
      worker: false,
      env: { PATCHFLOW_CONFIG: stepDelay, PATCHFLOW_DEPLOYMENT_HEARTBEAT: '3s' },
    });
  });
  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await stack?.stop();
  });

  it('a new worker finishes the cycle and no host is patched twice', async () => {
    workers.push(startWorkerProcess(stack));
    const id = await startDemoCycle(stack);
    await waitForCycle(stack, id, inPhase('approval'), 60_000);
    expect((await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice')).status).toBe(200);

    // Wait until a production ring's install is under way, then kill the worker without warning.
    for (let i = 0; i < 200; i++) {
      const running = await stack.ctx
        .db('deployments')
        .where({ cycle_id: id, phase: 'deployment', outcome: 'running' })
        .first();
      if (running) break;
      await sleep(100);
    }
    const killedDuring = (await stack.ctx
      .db('deployments')
      .where({ cycle_id: id, phase: 'deployment', outcome: 'running' })
      .select('idempotency_key')) as { idempotency_key: string }[];
    expect(killedDuring.length).toBeGreaterThan(0);
    workers[0]!.kill('SIGKILL');
    await new Promise((resolve) => workers[0]!.once('exit', resolve));

    workers.push(startWorkerProcess(stack));
    // Generous: this bounds a hang, it is not a speed target (each ring also runs a backup playbook).
    const done = await waitForCycle(stack, id, finished, 300_000).catch((err: Error) => {
      throw new Error(`${err.message}\nworkers' stderr, last 8 KB:\n${workerLog.join('').slice(-8000)}`);
    });
    expect(done.cycle.status).toBe('completed');

    // From the database: exactly one successful install per cycle × asset × patch…
    const successes = (await stack.ctx
      .db('deployments')
      .where({ cycle_id: id })
      .whereIn('outcome', ['patched', 'already_compliant'])
      .select('idempotency_key')) as { idempotency_key: string }[];
    const keys = successes.map((s) => s.idempotency_key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toHaveLength(5);
    // …and the interrupted attempt is on record, followed by the retry that finished the job.
    const interrupted = await stack.ctx.db('deployments').where({ cycle_id: id, outcome: 'interrupted' });
    expect(interrupted.length).toBeGreaterThan(0);

    // From the hosts themselves: the playbook's own history shows one install per host.
    for (const host of ['staging-01', 'web-01', 'web-02', 'app-01', 'db-01']) {
      const history = readFileSync(path.join(stack.fleet.hostRoot(host), 'patch-history.log'), 'utf8')
        .trim()
        .split('\n');
      expect(history, host).toHaveLength(1);
      expect(readFileSync(path.join(stack.fleet.hostRoot(host), 'app', 'VERSION'), 'utf8').trim()).toBe('2.4.1');
    }
  }, 420_000);
});
