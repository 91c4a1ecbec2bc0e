import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../kernel/errors.ts';
import { createLogger } from '../../kernel/logger.ts';
import { saveFeedState } from '../../db/repositories/feed-state.ts';
import { syncFeed, type SyncEnv } from '../../app/feeds.ts';
import { createConnectorRegistry } from '../../integrations/registry.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { feedTableCounts } from '../helpers/feed-tables.ts';
import { startFeedEmulator, type FeedEmulator } from '../emulators/feeds.ts';

const fixtures = path.resolve(import.meta.dirname, '../fixtures/feeds');
const fast = { attempts: 3, backoff: '10ms', maxWait: '5s' };

describe('feed sync against emulated sources', () => {
  let t: TestDatabase;
  let emu: FeedEmulator;
  let env: SyncEnv;
  beforeAll(async () => {
    t = await createTestDatabase();
    emu = await startFeedEmulator();
    const deps = { logger: createLogger({}, 'error'), workDir: '/tmp' };
    const registry = createConnectorRegistry().configure(
      {
        kev: { url: `${emu.url}/kev/known_exploited_vulnerabilities.json`, retry: fast },
        epss: { url: `${emu.url}/epss/epss_scores-current.csv.gz`, retry: fast },
        nvd: {
          url: `${emu.url}/nvd/rest/json/cves/2.0`,
          resultsPerPage: 10,
          requestInterval: '0s',
          maxPages: 50,
          retry: fast,
        },
        msrc: { url: `${emu.url}/msrc`, retry: fast },
        csaf: { url: `${emu.url}/csaf/`, retry: fast },
      },
      deps,
    );
    env = { db: t.db, registry, deps };
  });
  afterAll(async () => {
    await emu.close();
    await t.drop();
  });
  beforeEach(() => {
    emu.requests.length = 0;
  });

  it('KEV: the first sync stores the catalog, the second gets 304 and writes nothing', async () => {
    const catalog = JSON.parse(
      readFileSync(path.join(fixtures, 'kev/known_exploited_vulnerabilities.json'), 'utf8'),
    ) as { vulnerabilities: unknown[] };
    const first = await syncFeed(env, 'kev');
    expect(first.cves.inserted).toBe(catalog.vulnerabilities.length);
    const state = (await t.db('feed_state').where({ feed: 'kev' }).first()) as {
      etag: string;
      cursor: string;
      synced_at: Date;
    };
    expect(state).toMatchObject({ etag: expect.stringMatching(/^"/), cursor: '2025.08.25' });
    const before = {
      counts: await feedTableCounts(t.db),
      lastWrite: await t.db('cves').max({ m: 'updated_at' }).first(),
    };

    const second = await syncFeed(env, 'kev');
    expect(second.notModified).toBe(true);
    expect(emu.requests.at(-1)).toMatchObject({ status: 304, headers: { 'if-none-match': state.etag } });
    expect({
      counts: await feedTableCounts(t.db),
      lastWrite: await t.db('cves').max({ m: 'updated_at' }).first(),
    }).toEqual(before);
    expect(((await t.db('feed_state').where({ feed: 'kev' }).first()) as { synced_at: Date }).synced_at).toEqual(
      state.synced_at,
    );
  });

  it('EPSS: reads the gzip-compressed daily file; unchanged file → 304', async () => {
    const rows = readFileSync(path.join(fixtures, 'epss/epss_scores-current.head.csv'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('CVE-'));
    const first = await syncFeed(env, 'epss');
    expect(first.cves.inserted + first.cves.updated).toBe(rows.length);
    expect((await syncFeed(env, 'epss')).notModified).toBe(true);
  });

  it('EPSS: a new file with the same score date is recognised as unchanged by its date', async () => {
    emu.replace(
      '/epss/epss_scores-current.csv.gz',
      `${readFileSync(path.join(fixtures, 'epss/epss_scores-current.head.csv'), 'utf8')}\n`,
    );
    const before = await feedTableCounts(t.db);
    expect((await syncFeed(env, 'epss')).notModified).toBe(true);
    expect(await feedTableCounts(t.db)).toEqual(before);
  });

  it('NVD: walks 120-day lastModified windows and pages through every result', async () => {
    await saveFeedState(t.db, 'nvd', { cursor: '2023-10-01T00:00:00.000Z' });
    const expected = ['full-page.json', 'single-entry.json']
      .map(
        (f) =>
          JSON.parse(readFileSync(path.join(fixtures, 'cve/nvd-api-2.0', f), 'utf8')) as { vulnerabilities: unknown[] },
      )
      .reduce((n, p) => n + p.vulnerabilities.length, 0);
    const result = await syncFeed(env, 'nvd');
    expect(result.cves.inserted + result.cves.updated).toBe(expected);
    const nvd = emu.requests.filter((r) => r.path.startsWith('/nvd'));
    expect(nvd.every((r) => r.status === 200)).toBe(true);
    for (const r of nvd) {
      expect(
        Date.parse(r.query['lastModEndDate'] ?? '') - Date.parse(r.query['lastModStartDate'] ?? ''),
      ).toBeLessThanOrEqual(120 * 86_400_000);
    }
    // The October 2023 window holds the 38 CVEs of full-page.json: four pages of 10.
    const firstWindow = nvd.filter((r) => r.query['lastModStartDate'] === nvd[0]?.query['lastModStartDate']);
    expect(firstWindow.map((r) => r.query['startIndex'])).toEqual(['0', '10', '20', '30']);
    const cursor = ((await t.db('feed_state').where({ feed: 'nvd' }).first()) as { cursor: string }).cursor;
    expect(Date.now() - Date.parse(cursor)).toBeLessThan(60_000);
  });

  it('NVD: a sync that runs out of pages finishes over two runs, nothing missed and nothing fetched twice', async () => {
    const budget = createConnectorRegistry().configure(
      {
        nvd: {
          url: `${emu.url}/nvd/rest/json/cves/2.0`,
          resultsPerPage: 10,
          requestInterval: '0s',
          maxPages: 2,
          retry: fast,
        },
      },
      env.deps,
    );
    const small = { ...env, registry: budget };
    await t.db('cves').delete();
    await saveFeedState(t.db, 'nvd', { cursor: '2023-10-01T00:00:00.000Z' });
    const first = await syncFeed(small, 'nvd');
    expect(first.cves.inserted).toBe(20);
    const cursor = ((await t.db('feed_state').where({ feed: 'nvd' }).first()) as { cursor: string }).cursor;
    expect(JSON.parse(cursor)).toMatchObject({ windowStart: '2023-10-01T00:00:00.000Z', startIndex: 20 });
    // Runs until it is done: each run fetches two pages more and carries on where the last stopped.
    let runs = 1;
    while (
      ((await t.db('feed_state').where({ feed: 'nvd' }).first()) as { cursor: string }).cursor.startsWith('{') &&
      runs < 20
    ) {
      await syncFeed(small, 'nvd');
      runs++;
    }
    const pages = emu.requests
      .filter((r) => r.path.startsWith('/nvd'))
      .map((r) => `${r.query['lastModStartDate']} ${r.query['lastModEndDate']} ${r.query['startIndex']}`);
    expect(new Set(pages).size).toBe(pages.length);
    expect(pages.slice(0, 4).map((p) => p.split(' ')[2])).toEqual(['0', '10', '20', '30']);
    const stored = Number((await t.db('cves').count<{ n: string }[]>('* as n'))[0]!.n);
    const expected = ['full-page.json', 'single-entry.json']
      .map(
        (f) =>
          JSON.parse(readFileSync(path.join(fixtures, 'cve/nvd-api-2.0', f), 'utf8')) as {
            vulnerabilities: { cve: { vulnStatus?: string } }[];
          },
      )
      .flatMap((p) => p.vulnerabilities)
      .filter((v) => v.cve.vulnStatus !== 'Rejected').length;
    expect(stored).toBe(expected);
  });

  it('NVD: a 403 rate limit with Retry-After is waited out and retried', async () => {
    await saveFeedState(t.db, 'nvd', { cursor: '2023-10-18T00:00:00.000Z' });
    emu.rateLimit(2, { status: 403, retryAfterSeconds: 1 });
    const started = Date.now();
    const result = await syncFeed(env, 'nvd');
    expect(result.cves.updated).toBeGreaterThanOrEqual(38);
    expect(emu.requests.slice(0, 3).map((r) => r.status)).toEqual([403, 403, 200]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });

  it('a rate limit that outlasts the retry budget fails the sync with an UpstreamError and stores nothing', async () => {
    const before = await feedTableCounts(t.db);
    emu.rateLimit(5, { status: 429, retryAfterSeconds: 0 });
    const err = await syncFeed(env, 'csaf').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(/answered 429 after 3 attempts/);
    expect(await feedTableCounts(t.db)).toEqual(before);
    emu.rateLimit(0);
  });

  it('a Retry-After longer than retry.maxWait fails fast instead of stalling', async () => {
    emu.rateLimit(1, { status: 429, retryAfterSeconds: 3600 });
    const started = Date.now();
    await expect(syncFeed(env, 'msrc')).rejects.toThrow(/rate-limited for 3600s, longer than retry.maxWait 5s/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('an HTML error page served with 200 fails clearly and stores nothing', async () => {
    const before = await feedTableCounts(t.db);
    emu.htmlErrors(true);
    try {
      await expect(syncFeed(env, 'csaf')).rejects.toThrow(
        /returned an HTML page instead of feed data \("Service Temporarily Unavailable"\)/,
      );
    } finally {
      emu.htmlErrors(false);
    }
    expect(await feedTableCounts(t.db)).toEqual(before);
  });

  it('MSRC: fetches the changed CVRF documents from the updates list, then 304', async () => {
    const result = await syncFeed(env, 'msrc');
    expect(result.advisories.advisories).toBe(2);
    expect(
      emu.requests
        .filter((r) => r.path.startsWith('/msrc/cvrf/'))
        .every((r) => r.headers['accept'] === 'application/xml'),
    ).toBe(true);
    expect((await syncFeed(env, 'msrc')).notModified).toBe(true);
  });

  it('CSAF: fetches documents named in changes.csv; a changed index with no newer documents writes nothing', async () => {
    const result = await syncFeed(env, 'csaf');
    expect(result.advisories.advisories).toBe(3);
    expect((await syncFeed(env, 'csaf')).notModified).toBe(true);
    // The provider rewrites changes.csv (new ETag) but lists nothing newer than our cursor.
    emu.replace('/csaf/changes.csv', '"2022/bsi-2022-0001.json","2022-03-17T13:03:42.105Z"\n');
    const before = await feedTableCounts(t.db);
    expect((await syncFeed(env, 'csaf')).notModified).toBe(true);
    expect(await feedTableCounts(t.db)).toEqual(before);
  });

  it('an unknown feed is refused with the list of known ones', async () => {
    await expect(syncFeed(env, 'nope')).rejects.toThrow(
      /no advisory feed "nope"; known feeds: .*kev, epss, nvd, msrc, csaf/,
    );
  });
});
