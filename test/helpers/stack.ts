import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import type { AppContext } from '../../app/context.ts';
import { demoUsers, writeDemoFleet, seedDemoRecords, type DemoFleet } from '../../demo/seed.ts';
import { ensureLocalTokens } from '../../security/index.ts';
import { listen, type RunningHttpServer } from '../../runtime/http-server.ts';
import { configureRegistry, connectTemporalClient } from '../../runtime/context.ts';
import { createPatchflowWorker, type PatchflowWorkers } from '../../runtime/worker.ts';
import { loadSettings, type Settings } from '../../runtime/settings.ts';
import type { CycleDetail } from '../../db/repositories/cycles.ts';
import { createLogger } from '../../kernel/logger.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestStack {
  /** The API token of a user (created on first use; the user must exist). */
  tokenFor(userId: string): Promise<string>;
  ctx: AppContext;
  url: string;
  /** The public listener (chat endpoints only), when asked for. */
  publicUrl?: string;
  dataDir: string;
  fleet: DemoFleet;
  database: TestDatabase;
  env: NodeJS.ProcessEnv;
  worker?: PatchflowWorkers;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Demo hosts whose health check fails after patching. */
  failing?: string[];
  /** Extra environment, as an operator would set it (PATCHFLOW_*, TEMPORAL_*). */
  env?: Record<string, string>;
  /** Run the worker in this process (default) or leave it to the test. */
  worker?: boolean;
  /** Also start the public listener that serves only /slack/* and /teams/*. */
  publicListener?: boolean;
}

/**
 * The real thing, scaled down: its own Postgres database, the run's Temporal dev server on its own
 * task queue, the demo fleet in a temp folder patched by real ansible-playbook, and the HTTP API.
 */
export async function startStack(opts: StackOptions = {}): Promise<TestStack> {
  const database = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-test-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    DATABASE_URL: database.url,
    PATCHFLOW_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `test-${randomBytes(4).toString('hex')}`,
    PATCHFLOW_DEPLOYMENT_HEARTBEAT: '5s',
    PATCHFLOW_LOG_LEVEL: process.env['PATCHFLOW_LOG_LEVEL'] ?? 'warn',
    ...opts.env,
  };
  const settings: Settings = loadSettings(env);
  const logger = createLogger({}, 'warn');
  const fleet = writeDemoFleet(dataDir, { failing: opts.failing ?? [] });
  await seedDemoRecords(database.db);
  const tokens = await ensureLocalTokens(database.db, dataDir, demoUsers);
  const ctx: AppContext = {
    settings,
    db: database.db,
    logger,
    registry: configureRegistry(settings, logger),
    temporal: await connectTemporalClient(settings.temporal),
  };
  let worker: PatchflowWorkers | undefined;
  let running: Promise<void> | undefined;
  if (opts.worker !== false) {
    worker = await createPatchflowWorker(ctx, { workflowBundle: { codePath: inject('workflowBundlePath') } });
    running = worker.run();
  }
  const http: RunningHttpServer = await listen(
    ctx,
    '127.0.0.1',
    0,
    opts.publicListener ? { host: '127.0.0.1', port: 0 } : undefined,
  );
  return {
    ctx,
    url: http.url,
    ...(http.publicUrl ? { publicUrl: http.publicUrl } : {}),
    dataDir,
    fleet,
    database,
    env,
    async tokenFor(userId: string) {
      // People a test adds after start get a token on first use; the CLI finds it in the local tokens file too.
      const token =
        tokens[userId] ?? (await ensureLocalTokens(database.db, dataDir, [...demoUsers, { id: userId }]))[userId];
      if (!token) throw new Error(`no user ${userId}: add them before calling the API as them`);
      tokens[userId] = token;
      return token;
    },
    ...(worker ? { worker } : {}),
    async stop() {
      await http.close();
      if (worker && running) {
        worker.shutdown();
        await running;
      }
      await ctx.temporal.connection.close();
      await database.drop();
    },
  };
}

/** A REST call as `as` (default: the local admin) with that user's API token; `null` sends no credential. */
export async function api<T = unknown>(
  stack: TestStack,
  method: string,
  route: string,
  body?: unknown,
  as: string | null = 'admin',
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${stack.url}${route}`, {
    method,
    headers: {
      ...(as === null ? {} : { authorization: `Bearer ${await stack.tokenFor(as)}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Polls the cycle until `done` holds; fails with the last state seen, so a hang explains itself. */
export async function waitForCycle(
  stack: TestStack,
  id: string,
  done: (d: CycleDetail) => boolean,
  timeoutMs = 45_000,
): Promise<CycleDetail> {
  const deadline = Date.now() + timeoutMs;
  let last: CycleDetail | undefined;
  while (Date.now() < deadline) {
    last = (await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`)).body;
    if (done(last)) return last;
    await sleep(250);
  }
  throw new Error(`cycle ${id} did not reach the expected state; last seen: ${JSON.stringify(last?.cycle)}`);
}

export const inPhase = (phase: string) => (d: CycleDetail) => d.cycle.phase === phase;
export const finished = (d: CycleDetail) => d.cycle.phase === 'done';

/** Starts the demo cycle as carol, the coordinator, or as `as` (an admin, to loosen the policy for one cycle). */
export async function startDemoCycle(
  stack: TestStack,
  extra: Record<string, unknown> = {},
  as = 'carol',
): Promise<string> {
  const res = await api<CycleDetail>(stack, 'POST', '/api/cycles', { demo: true, ...extra }, as);
  if (res.status !== 201) throw new Error(`cycle start failed: ${JSON.stringify(res.body)}`);
  return res.body.cycle.id;
}
