import type http from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { feedSyncInput, syncFeed, type FeedRunResult, type SyncEnv } from '../../app/feeds.ts';
import { getBody, retrySchema, type RetryPolicy } from '../../integrations/feeds/http.ts';
import { createConnectorRegistry } from '../../integrations/registry.ts';
import { PatchflowError, UpstreamError } from '../../kernel/errors.ts';
import { createLogger } from '../../kernel/logger.ts';
import { saveFeedState } from '../../db/repositories/feed-state.ts';
import { feedSyncWorkflowId, type feedSyncWorkflow } from '../../workflows/feed-sync.ts';
import { HttpEmulator } from '../emulators/http-emulator.ts';
import { startFeedEmulator, type FeedEmulator } from '../emulators/feeds.ts';
import { api, startStack, type TestStack } from '../helpers/stack.ts';

/**
 * The feed emulator behind HttpEmulator's injectable faults (`hang()`, `failNextRequests()`),
 * which it does not have itself: every request is passed on as the client sent it, and the
 * emulator's answer passed back unchanged. With `stallBody` the answer's headers and the start of
 * its body go out, and then nothing: a source that stops half-way through a download.
 */
class FaultyLink extends HttpEmulator {
  stallBody = false;

  constructor(private readonly upstream: string) {
    super('');
  }

  protected async handle(req: http.IncomingMessage, _body: Buffer, res: http.ServerResponse): Promise<void> {
    const passed = ['if-none-match', 'if-modified-since', 'accept', 'apikey'].flatMap((h) => {
      const v = req.headers[h];
      return typeof v === 'string' ? [[h, v] as [string, string]] : [];
    });
    const answer = await fetch(`${this.upstream}${req.url ?? '/'}`, { headers: Object.fromEntries(passed) });
    const body = Buffer.from(await answer.arrayBuffer());
    const headers: Record<string, string> = {};
    answer.headers.forEach((value, name) => (headers[name] = value));
    res.writeHead(answer.status, headers);
    if (this.stallBody) res.write(body.subarray(0, 64));
    else res.end(body);
  }
}

const kevPath = '/kev/known_exploited_vulnerabilities.json';
const retry = (r: Record<string, string | number>): RetryPolicy => retrySchema.parse(r);

/** Waits for a condition the test cannot be told about (a request arriving at the link), within bounds. */
async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

describe('feed HTTP: per-request timeouts, cancellation, Retry-After and back-off', () => {
  let emu: FeedEmulator;
  let link: FaultyLink;
  let stack: TestStack;
  let taskQueue: string;
  const deps = { logger: createLogger({}, 'error'), workDir: '/tmp' };
  /** A sync environment on the stack's database with these feeds configured. */
  const envWith = (feeds: Record<string, unknown>): SyncEnv => ({
    db: stack.ctx.db,
    registry: createConnectorRegistry().configure(feeds, deps),
    deps,
  });
  const kevState = async () => stack.ctx.db('feed_state').where({ feed: 'kev' }).first() as Promise<unknown>;

  beforeAll(async () => {
    emu = await startFeedEmulator();
    link = await new FaultyLink(emu.url).start();
    const config = path.join(process.env['TMPDIR'] ?? '/tmp', `patchflow-feed-http-${process.pid}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        connectors: {
          ansible: {},
          kev: {
            url: `${link.url}${kevPath}`,
            retry: { attempts: 2, backoff: '10ms', maxWait: '1s', requestTimeout: '30s' },
          },
        },
      }),
    );
    // A short heartbeat, so that the worker hears of a cancellation within a couple of seconds.
    stack = await startStack({ env: { PATCHFLOW_CONFIG: config, PATCHFLOW_FEED_HEARTBEAT: '2s' } });
    taskQueue = stack.ctx.settings.temporal.taskQueue;
  });
  afterAll(async () => {
    await stack?.stop();
    await link?.close();
    await emu?.close();
  });
  beforeEach(async () => {
    link.stallBody = false;
    emu.rateLimit(0);
    await stack.ctx.db('feed_state').delete();
  });

  it('a hung request is given up after retry.requestTimeout, each attempt on its own; the sync fails clearly, in bounded time, storing nothing', async () => {
    const env = envWith({
      kev: {
        url: `${link.url}${kevPath}`,
        retry: { attempts: 2, backoff: '10ms', maxWait: '1s', requestTimeout: '300ms' },
      },
    });
    const release = link.hang();
    try {
      const started = Date.now();
      const err = await syncFeed(env, 'kev').catch((e: unknown) => e);
      const took = Date.now() - started;
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as Error).message).toMatch(
        /^GET http:\/\/127\.0\.0\.1:\d+\/kev\/known_exploited_vulnerabilities\.json gave no complete answer within retry\.requestTimeout 300ms after 2 attempts$/,
      );
      // Both attempts reached the source and were abandoned there, each after its own timeout: two
      // requests, no more (the sync gave up rather than waiting on), and no less than two timeouts.
      expect(link.heldRequests).toBe(2);
      expect(took).toBeGreaterThanOrEqual(600);
    } finally {
      release();
    }
    expect(await kevState()).toBeUndefined();
  });

  it('the timeout covers the body: a download that stops half-way fails the same way', async () => {
    link.stallBody = true;
    const err = await getBody(`${link.url}${kevPath}`, {
      retry: retry({ attempts: 1, requestTimeout: '300ms' }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(/gave no complete answer within retry\.requestTimeout 300ms$/);
  });

  it("a download cancelled by the caller's signal ends with the signal's reason, not as an outage, and is not retried", async () => {
    const env = envWith({ kev: { url: `${link.url}${kevPath}`, retry: { attempts: 3, backoff: '10ms' } } });
    const release = link.hang();
    try {
      // As Temporal cancels an activity: the abort's reason is a CancelledFailure.
      const controller = new AbortController();
      const reason = new CancelledFailure('CANCELLED');
      const sync = syncFeed(env, 'kev', controller.signal).catch((e: unknown) => e);
      await until('the download is under way', () => link.heldRequests === 1);
      controller.abort(reason);
      const err = await sync;
      expect(err).toBe(reason);
      expect(err).not.toBeInstanceOf(PatchflowError);
      expect(link.heldRequests).toBe(1);

      // Without a reason of its own, the abort is the platform's AbortError: still no UpstreamError.
      const plain = new AbortController();
      const second = syncFeed(env, 'kev', plain.signal).catch((e: unknown) => e);
      await until('the second download is under way', () => link.heldRequests === 2);
      plain.abort();
      expect(await second).toMatchObject({ name: 'AbortError' });
    } finally {
      release();
    }
    expect(await kevState()).toBeUndefined();
  });

  it('a cancellation during the back-off between attempts ends the wait at once', async () => {
    link.failNextRequests(503, 1);
    const controller = new AbortController();
    const started = Date.now();
    const err = await getBody(`${link.url}${kevPath}`, {
      retry: retry({ attempts: 3, backoff: '1m', maxWait: '2m' }),
      signal: controller.signal,
      onWait: () => controller.abort(),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a Retry-After is waited out as the source asked, not the back-off', async () => {
    emu.rateLimit(1, { status: 429, retryAfterSeconds: 1 });
    const notes: string[] = [];
    const started = Date.now();
    const got = await getBody(`${link.url}${kevPath}`, {
      retry: retry({ attempts: 2, backoff: '10ms', maxWait: '5s' }),
      onWait: (n) => notes.push(n),
    });
    expect(got.body.length).toBeGreaterThan(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(notes).toEqual([expect.stringMatching(/^429 from .*; retrying in 1s \(attempt 2 of 2\)$/)]);
  });

  it('NVD: a 403 without Retry-After is its rate limit, backed off with full jitter and retried; elsewhere a 403 is a refusal', async () => {
    const nvdUrl = new URL(`${link.url}/nvd/rest/json/cves/2.0`);
    nvdUrl.searchParams.set('lastModStartDate', '2023-10-18T00:00:00.000+00:00');
    nvdUrl.searchParams.set('lastModEndDate', '2023-10-19T00:00:00.000+00:00');
    link.failNextRequests(403, 2);
    const notes: string[] = [];
    await getBody(nvdUrl.toString(), {
      retry: retry({ attempts: 3, backoff: '100ms', maxWait: '5s' }),
      forbiddenMeansRateLimited: true,
      onWait: (n) => notes.push(n),
    });
    // Each wait is drawn below its doubling ceiling (100 ms, then 200 ms), never the ceiling itself.
    const waits = notes.map((n) => Number(/retrying in (\d+)ms/.exec(n)?.[1]));
    expect(notes).toHaveLength(2);
    expect(waits[0]).toBeLessThan(100);
    expect(waits[1]).toBeLessThan(200);

    // The NVD connector says so itself: a sync through two 403s stores the pages.
    const env = envWith({
      nvd: {
        url: `${link.url}/nvd/rest/json/cves/2.0`,
        resultsPerPage: 10,
        requestInterval: '0s',
        retry: { attempts: 3, backoff: '50ms' },
      },
    });
    await saveFeedState(stack.ctx.db, 'nvd', { cursor: '2023-10-18T00:00:00.000Z' });
    link.failNextRequests(403, 2);
    const synced = await syncFeed(env, 'nvd');
    expect(synced.cves.inserted + synced.cves.updated).toBeGreaterThanOrEqual(38);

    // KEV is no rate-limited API: its 403 is an answer, given at once.
    link.failNextRequests(403, 1);
    const refused = await getBody(`${link.url}${kevPath}`, { retry: retry({ attempts: 3, backoff: '10ms' }) }).catch(
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ name: 'UpstreamError', retryable: false });
    expect((refused as Error).message).toMatch(/answered 403: Service Unavailable$/);
  });

  describe('as the feedSync workflow on the dev server', () => {
    const syncHandle = () => stack.ctx.temporal.workflow.getHandle(feedSyncWorkflowId(taskQueue, 'kev'));

    it('POST /api/feeds/kev/sync runs the sync on a worker and answers with what it stored', async () => {
      const res = await api<FeedRunResult>(stack, 'POST', '/api/feeds/kev/sync');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ feed: 'kev', notModified: false });
      expect(res.body.cves.inserted + res.body.cves.updated).toBe(1404);
      const stored = (await stack.ctx.db('cves').where({ kev: true }).count({ n: '*' }).first()) as { n: string };
      expect(Number(stored.n)).toBe(1404);
      const described = await syncHandle().describe();
      expect(described).toMatchObject({ type: 'feedSyncWorkflow', taskQueue, status: { name: 'COMPLETED' } });
    });

    it('a sync cancelled in Temporal is reported as cancelled: the activity itself ends cancelled, not failed', async () => {
      const release = link.hang();
      try {
        const answer = api<{ error: { code: string; message: string } }>(stack, 'POST', '/api/feeds/kev/sync');
        await until('the worker is downloading', () => link.heldRequests === 1);
        await syncHandle().cancel();
        const res = await answer;
        expect(res.status).toBe(409);
        expect(res.body.error.message).toBe('the kev sync was cancelled before it finished; nothing of it was stored');
        expect((await syncHandle().describe()).status.name).toBe('CANCELLED');
        const events = (await syncHandle().fetchHistory()).events ?? [];
        expect(events.filter((e) => e.activityTaskCanceledEventAttributes)).toHaveLength(1);
        expect(events.filter((e) => e.activityTaskFailedEventAttributes)).toHaveLength(0);
      } finally {
        release();
      }
      expect(await kevState()).toBeUndefined();
    });

    it('a Retry-After longer than retry.maxWait becomes the retry delay of the activity, instead of its back-off', async () => {
      // The link's kev allows a 1 s wait in place; the source asks for 3 s, and Temporal's own back-off would be 1 min.
      emu.rateLimit(1, { status: 429, retryAfterSeconds: 3 });
      const started = Date.now();
      const result = await stack.ctx.temporal.workflow.execute<typeof feedSyncWorkflow>('feedSyncWorkflow', {
        taskQueue,
        workflowId: feedSyncWorkflowId(taskQueue, 'kev'),
        args: [feedSyncInput(stack.ctx.settings, 'kev', 2)],
      });
      const took = Date.now() - started;
      expect(result).toMatchObject({ feed: 'kev', notModified: false });
      // The source's 3 s were waited out: never sooner.
      expect(took).toBeGreaterThanOrEqual(3000);
      const started2 = ((await syncHandle().fetchHistory()).events ?? []).find(
        (e) => e.activityTaskStartedEventAttributes,
      )?.activityTaskStartedEventAttributes;
      expect(started2?.attempt).toBe(2);
      expect(started2?.lastFailure?.message).toMatch(/is rate-limited for 3s, longer than retry\.maxWait 1s$/);
      // …and Temporal retried after exactly that, not after its own 1-minute back-off.
      expect(Number(started2?.lastFailure?.applicationFailureInfo?.nextRetryDelay?.seconds)).toBe(3);
    });
  });
});
