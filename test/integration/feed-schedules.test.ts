import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ScheduleNotFoundError, type ScheduleDescription } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FeedScheduleStatus } from '../../app/feeds.ts';
import { feedKinds } from '../../app/feeds.ts';
import { ensureFeedSchedules } from '../../runtime/feed-schedules.ts';
import { loadSettings, type Settings } from '../../runtime/settings.ts';
import { InputError } from '../../kernel/errors.ts';
import { feedScheduleId, feedSyncWorkflowId, type FeedSyncOutcome } from '../../workflows/feed-sync.ts';
import { startFeedEmulator, type FeedEmulator } from '../emulators/feeds.ts';
import { runCli } from '../helpers/cli.ts';
import { api, startStack, type TestStack } from '../helpers/stack.ts';

const cli = fileURLToPath(new URL('../../bin/patchflow.mjs', import.meta.url));
const hours = (n: number) => n * 3_600_000;

/** Polls `read` until it gives a value; fails naming what was awaited, so a hang explains itself. */
async function eventually<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('feed schedules: settings', () => {
  const settingsError = (env: NodeJS.ProcessEnv) => {
    try {
      loadSettings(env);
    } catch (err) {
      return err;
    }
    throw new Error('the settings were accepted');
  };

  it('a bad interval is refused naming the field', () => {
    const err = settingsError({ PATCHFLOW_FEED_SCHEDULE_NVD: 'often' });
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe('invalid settings: feeds.schedule.nvd: a duration such as 6h, or off');
    expect((err as InputError).details).toEqual([
      { path: ['feeds', 'schedule', 'nvd'], message: 'a duration such as 6h, or off' },
    ]);
    expect((settingsError({ PATCHFLOW_FEED_SCHEDULE_KEV: '10s' }) as Error).message).toBe(
      'invalid settings: feeds.schedule.kev: at least 1m',
    );
    expect((settingsError({ PATCHFLOW_FEED_SYNC_TIMEOUT: 'an hour' }) as Error).message).toMatch(
      /^invalid settings: feeds\.syncTimeout: a duration such as/,
    );
  });

  it('a feed the registry does not know is refused in the config file, naming it', () => {
    const file = path.join(process.env['TMPDIR'] ?? '/tmp', `patchflow-feed-schedule-bad-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ feeds: { schedule: { oval: '6h' } } }));
    const err = settingsError({ PATCHFLOW_CONFIG: file }) as InputError;
    expect(err.message).toMatch(/^invalid settings: feeds\.schedule: Unrecognized key: "oval"/);
    expect(err.details[0]?.path).toEqual(['feeds', 'schedule']);
  });

  it('defaults follow how often each source publishes', () => {
    expect(loadSettings({}).feeds).toEqual({
      schedule: { kev: '6h', epss: '24h', nvd: '2h', msrc: '24h', csaf: '6h' },
      syncTimeout: '1h',
      heartbeat: '30s',
    });
  });
});

describe('feed schedules in Temporal', () => {
  let emu: FeedEmulator;
  /** A source that takes requests and never answers: a sync against it stays running. */
  let silent: Server;
  let silentRequests = 0;
  let stack: TestStack;
  let worker: ChildProcess;
  const workerLog: string[] = [];
  let taskQueue: string;
  const scheduleOf = (kind: string) => stack.ctx.temporal.schedule.getHandle(feedScheduleId(taskQueue, kind));
  const described = (kind: string): Promise<ScheduleDescription | undefined> =>
    scheduleOf(kind)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof ScheduleNotFoundError) return undefined;
        throw err;
      });
  /** The result of the schedule's newest run once it has one; `after` is how many runs there were before. */
  const nextScheduledRun = async (kind: string, after: number): Promise<FeedSyncOutcome> => {
    const run = await eventually(`a run of the ${kind} schedule`, async () => {
      const actions = (await described(kind))?.info.recentActions ?? [];
      return actions.length > after ? actions.at(-1) : undefined;
    });
    return stack.ctx.temporal.workflow
      .getHandle<() => Promise<FeedSyncOutcome>>(run.action.workflow.workflowId)
      .result();
  };

  beforeAll(async () => {
    emu = await startFeedEmulator();
    silent = createServer(() => void silentRequests++);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const config = path.join(process.env['TMPDIR'] ?? '/tmp', `patchflow-feed-schedules-${process.pid}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        connectors: {
          ansible: {},
          kev: { url: `${emu.url}/kev/known_exploited_vulnerabilities.json` },
          epss: { url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/epss.csv.gz` },
          msrc: { url: `${emu.url}/msrc` },
        },
        // nvd and csaf are not configured: they sync only when asked.
        feeds: { schedule: { kev: '6h', msrc: 'off' } },
      }),
    );
    stack = await startStack({ worker: false, env: { PATCHFLOW_CONFIG: config, PATCHFLOW_FEED_HEARTBEAT: '2s' } });
    taskQueue = stack.ctx.settings.temporal.taskQueue;
    // A worker as operators start one: its own process; the schedules are made as it starts.
    worker = spawn(process.execPath, [cli, 'worker'], {
      env: { ...stack.env, PATCHFLOW_WORKFLOW_BUNDLE: inject('workflowBundlePath') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    worker.stderr!.setEncoding('utf8').on('data', (chunk: string) => workerLog.push(chunk));
  });
  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    if (stack)
      for (const kind of feedKinds(stack.ctx.registry))
        await scheduleOf(kind)
          .delete()
          .catch(() => {});
    await stack?.stop();
    silent?.closeAllConnections();
    await new Promise((resolve) => silent?.close(resolve));
    await emu?.close();
  });

  it('a worker start creates one schedule per configured feed, at its interval, skipping overlaps', async () => {
    const kev = await eventually('the kev schedule', () => described('kev'), 90_000).catch((err: Error) => {
      throw new Error(`${err.message}; worker said: ${workerLog.join('')}`);
    });
    expect(kev.spec.intervals?.map((i) => i.every)).toEqual([hours(6)]);
    expect(kev.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: hours(6) });
    expect(kev.action).toMatchObject({ type: 'startWorkflow', workflowType: 'feedSyncWorkflow', taskQueue });
    expect(kev.action.args).toEqual([{ kind: 'kev', attempts: 3, timeouts: { sync: '1h', heartbeat: '2s' } }]);
    expect((await described('epss'))?.spec.intervals?.map((i) => i.every)).toEqual([hours(24)]);
    // Configured but switched off, and not configured at all: no schedule.
    expect(await described('msrc')).toBeUndefined();
    expect(await described('nvd')).toBeUndefined();

    const { body } = await api<{ feeds: { kind: string; schedule: FeedScheduleStatus | null }[] }>(
      stack,
      'GET',
      '/api/feeds',
    );
    const kevStatus = body.feeds.find((f) => f.kind === 'kev')?.schedule;
    expect(kevStatus).toMatchObject({ every: '6h', paused: false });
    const next = Date.parse(kevStatus?.nextRunAt ?? '');
    expect(next).toBeGreaterThan(Date.now());
    expect(next).toBeLessThanOrEqual(Date.now() + hours(6));
    expect(body.feeds.find((f) => f.kind === 'nvd')?.schedule).toBeNull();

    const listed = await runCli(
      { PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_TOKEN: await stack.tokenFor('admin') },
      ['feeds', 'list'],
    );
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^kev +never synced +every 6h, next \d{4}-\d\d-\d\dT[\d:.]+Z +CISA/m);
    expect(listed.stdout).toMatch(/^nvd +never synced +not scheduled +NVD/m);
  });

  it('a scheduled run syncs the feed on the worker and stores the batch', async () => {
    const before = (await described('kev'))?.info.recentActions.length ?? 0;
    await scheduleOf('kev').trigger();
    const outcome = await nextScheduledRun('kev', before);
    expect(outcome).toMatchObject({ feed: 'kev', notModified: false });
    const kev = (await stack.ctx.db('cves').where({ kev: true }).count({ n: '*' }).first()) as { n: string };
    expect(Number(kev.n)).toBe(1404);
    expect(await stack.ctx.db('feed_state').where({ feed: 'kev' }).first()).toMatchObject({ cursor: '2025.08.25' });
  });

  it('a scheduled run finding a sync of its feed still running skips instead of starting a second', async () => {
    const asked = api<{ error: { message: string } }>(stack, 'POST', '/api/feeds/epss/sync');
    await eventually('the requested sync to reach the source', async () => (silentRequests > 0 ? true : undefined));
    const before = (await described('epss'))?.info.recentActions.length ?? 0;
    await scheduleOf('epss').trigger();
    expect(await nextScheduledRun('epss', before)).toEqual({
      feed: 'epss',
      skipped: `a sync of epss is still running (${feedSyncWorkflowId(taskQueue, 'epss')})`,
    });
    expect(silentRequests).toBe(1);
    await stack.ctx.temporal.workflow.getHandle(feedSyncWorkflowId(taskQueue, 'epss')).cancel();
    const res = await asked;
    expect(res.status).toBe(409);
    expect(res.body.error.message).toBe('the epss sync was cancelled before it finished; nothing of it was stored');
  });

  it('schedules follow the settings at the next start: a new interval updates, off removes', async () => {
    const withSchedule = (schedule: Partial<Settings['feeds']['schedule']>) => ({
      ...stack.ctx,
      settings: {
        ...stack.ctx.settings,
        feeds: { ...stack.ctx.settings.feeds, schedule: { ...stack.ctx.settings.feeds.schedule, ...schedule } },
      },
    });
    expect(await ensureFeedSchedules(withSchedule({ kev: '12h' }))).toEqual({ kev: '12h', epss: '24h' });
    expect((await described('kev'))?.spec.intervals?.map((i) => i.every)).toEqual([hours(12)]);
    // Idempotent: the same settings again change nothing.
    await ensureFeedSchedules(withSchedule({ kev: '12h' }));
    expect((await described('kev'))?.spec.intervals?.map((i) => i.every)).toEqual([hours(12)]);
    expect(await ensureFeedSchedules(withSchedule({ kev: 'off' }))).toEqual({ epss: '24h' });
    expect(await described('kev')).toBeUndefined();
  });
});
