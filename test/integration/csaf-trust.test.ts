import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InputError, UpstreamError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { saveFeedState } from '../../db/repositories/feed-state.ts';
import { syncFeed, type FeedRunResult } from '../../app/feeds.ts';
import { createConnectorRegistry } from '../../integrations/registry.ts';
import { csafConfigSchema } from '../../integrations/feeds/csaf/config.ts';
import { providerMetadataUrl } from '../../integrations/feeds/csaf/discovery.ts';
import { checkHash, parseHashFile } from '../../integrations/feeds/csaf/trust.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { feedTableCounts } from '../helpers/feed-tables.ts';
import {
  providerFixture,
  providerFixturePath,
  startCsafProvider,
  type CsafProviderEmulator,
} from '../emulators/csaf-provider.ts';

const fast = { attempts: 2, backoff: '10ms', maxWait: '1s' };
const white = '/.well-known/csaf/white';
const isdubaMetadata = '/.well-known/csaf/provider-metadata.json';
const doc1 = `${white}/2025/isduba-2025-01.json`;
const doc2 = `${white}/2025/isduba-2025-02.json`;
const doc1Cves = ['CVE-2025-20333', 'CVE-2025-20362', 'CVE-2025-20363'];
const doc2Cves = ['CVE-2025-55182', 'CVE-2025-66478'];
const stackableDir = '/csaf/v2/advisories/';
const stackableDoc = `${stackableDir}2026/cve-2026-42203.json`;
// The stackable changes.csv lists 23 documents and the fixtures hold one: a cursor just before it
// and a budget of one make the sync fetch exactly that one, as a resumed sync would.
const beforeStackableDoc = '2026-07-13T09:48:04Z';

interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}
function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void lines.push({ level, msg, fields });
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => recordingLogger(lines),
  };
}

describe('CSAF feed trust: discovery, hashes and signatures against real providers', () => {
  let isduba: CsafProviderEmulator;
  let stackable: CsafProviderEmulator;
  let t: TestDatabase;
  let logger: ReturnType<typeof recordingLogger>;

  beforeAll(async () => {
    isduba = await startCsafProvider('isduba');
    stackable = await startCsafProvider('stackable');
  });
  afterAll(async () => {
    await isduba.close();
    await stackable.close();
  });
  beforeEach(async () => {
    t = await createTestDatabase();
    logger = recordingLogger();
    isduba.requests.length = 0;
    stackable.requests.length = 0;
  });
  afterEach(async () => {
    await t.drop();
    // Every test starts from the trees as published.
    await isduba.close();
    await stackable.close();
    isduba = await startCsafProvider('isduba');
    stackable = await startCsafProvider('stackable');
  });

  const sync = (config: Record<string, unknown>): Promise<FeedRunResult> => {
    const deps = { logger, workDir: '/tmp' };
    const registry = createConnectorRegistry().configure({ csaf: { retry: fast, ...config } }, deps);
    return syncFeed({ db: t.db, registry, deps }, 'csaf');
  };
  const advisoryIds = async () =>
    ((await t.db('advisories').select('id').orderBy('id')) as { id: string }[]).map((r) => r.id);
  const cveIds = async () => ((await t.db('cves').select('id').orderBy('id')) as { id: string }[]).map((r) => r.id);
  /** Asserts that not one row of the document is stored: its advisory, its CVE links, its patches, its CVEs. */
  const assertNothingOf = async (advisoryId: string, cves: string[]) => {
    expect(await t.db('advisories').where({ id: advisoryId })).toEqual([]);
    expect(await t.db('advisory_cves').where({ advisory_id: advisoryId })).toEqual([]);
    expect(
      await t.db('patches').where({ advisory_id: advisoryId }).orWhere('vendor_ref', 'like', `${advisoryId}%`),
    ).toEqual([]);
    expect(await t.db('patch_cves').whereIn('cve_id', cves)).toEqual([]);
    expect(await t.db('cves').whereIn('id', cves)).toEqual([]);
  };
  const metadataJson = () => JSON.parse(isduba.served(isdubaMetadata).toString('utf8')) as Record<string, unknown>;

  it('ISDuBA via provider-metadata.json and its TLP:WHITE ROLIE feed: both documents stored, each hash and signature checked', async () => {
    const result = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) });
    expect(result.refused).toBeUndefined();
    expect(await advisoryIds()).toEqual(['isduba-2025-01', 'isduba-2025-02']);
    expect(await cveIds()).toEqual([...doc1Cves, ...doc2Cves].sort());
    const fetched = isduba.requests.map((r) => `${r.status} ${r.path}`);
    for (const doc of [doc1, doc2])
      expect(fetched).toEqual(expect.arrayContaining([`200 ${doc}`, `200 ${doc}.sha512`, `200 ${doc}.asc`]));
    expect(fetched).toContain('200 /.well-known/csaf/openpgp/A25FE0F175896BFA636F1A051DE645B1926835DD.asc');
    // Only the WHITE feed: GREEN, AMBER and RED are not read, nor the directories beside them.
    expect(fetched.filter((p) => /csaf-feed-tlp-|changes\.csv/.test(p))).toEqual([
      `200 ${white}/csaf-feed-tlp-white.json`,
    ]);
    expect(
      logger.lines.find((l) => l.msg === 'CSAF signatures are checked against the provider keys')?.fields['keys'],
    ).toEqual([expect.stringMatching(/^A25FE0F175896BFA636F1A051DE645B1926835DD /)]);

    // The feed is unchanged: 304, and the keys are not fetched again.
    isduba.requests.length = 0;
    expect((await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) })).notModified).toBe(true);
    expect(isduba.requests.map((r) => `${r.status} ${r.path}`)).toEqual([
      `200 ${isdubaMetadata}`,
      `304 ${white}/csaf-feed-tlp-white.json`,
    ]);
  });

  it('Stackable via its directory and a configured key file: its document stored, the hash line naming a path', async () => {
    await saveFeedState(t.db, 'csaf', { cursor: beforeStackableDoc });
    const result = await sync({
      url: stackable.at(stackableDir),
      openpgpKeys: [providerFixturePath('stackable', 'openpgp/4005788070EAA8A5.txt')],
      maxDocuments: 1,
    });
    expect(result.refused).toBeUndefined();
    expect(await advisoryIds()).toEqual(['CVE-2026-42203']);
    expect(stackable.requests.map((r) => `${r.status} ${r.path}`)).toEqual([
      `200 ${stackableDir}changes.csv`,
      `200 ${stackableDoc}`,
      `200 ${stackableDoc}.sha512`,
      `200 ${stackableDoc}.asc`,
    ]);
    expect(result.state?.cursor).toBe('2026-07-13T09:48:05.000Z');
  });

  it("a directory without configured keys gets them from the provider-metadata.json that names it (Stackable's key file is not named by its key id)", async () => {
    await saveFeedState(t.db, 'csaf', { cursor: beforeStackableDoc });
    const result = await sync({ url: stackable.at(stackableDir), maxDocuments: 1 });
    expect(result.refused).toBeUndefined();
    expect(await advisoryIds()).toEqual(['CVE-2026-42203']);
    expect(stackable.requests.map((r) => r.path)).toEqual(
      expect.arrayContaining(['/csaf/v2/provider-metadata.json', '/csaf/v2/openpgp/4005788070EAA8A5.txt']),
    );

    // ISDuBA's TLP:WHITE directory: its provider-metadata.json is one level up, at the well-known place.
    await t.db('feed_state').delete();
    const isdubaRun = await sync({ url: isduba.at(`${white}/`) });
    expect(isdubaRun.refused).toBeUndefined();
    expect(await advisoryIds()).toEqual(['CVE-2026-42203', 'isduba-2025-01', 'isduba-2025-02']);
  });

  it('a document altered by one character is refused: nothing of it stored, the other stored, the refusal reported and logged', async () => {
    const original = isduba.served(doc1).toString('utf8');
    expect(original).toContain('Cisco Secure Firewall');
    isduba.replace(doc1, original.replace('Cisco Secure Firewall', 'Cisco Secure Firewal1'));
    const result = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) });
    expect(result.refused).toEqual([
      {
        url: isduba.at(doc1),
        changedAt: '2025-12-12T15:08:00.000Z',
        reason: expect.stringMatching(
          /^SHA-512 of the document is [0-9a-f]{128}, but .*\.sha512 publishes 59a7f8170da2/,
        ),
      },
    ]);
    await assertNothingOf('isduba-2025-01', doc1Cves);
    expect(await advisoryIds()).toEqual(['isduba-2025-02']);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      msg: 'document refused, nothing of it stored',
      fields: { url: isduba.at(doc1), reason: result.refused?.[0]?.reason },
    });
    // A document whose hash fails is checked no further: its signature is not fetched.
    expect(isduba.requests.map((r) => r.path)).not.toContain(`${doc1}.asc`);

    // The cursor moved past it, and it is not taken for stored: once the provider republishes it
    // (a newer `updated`), the next sync fetches it again and stores it.
    expect(result.state?.cursor).toBe('2025-12-12T16:20:00.000Z');
    expect((await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) })).notModified).toBe(true);
    isduba.replace(doc1, original);
    const feedPath = `${white}/csaf-feed-tlp-white.json`;
    isduba.replace(
      feedPath,
      isduba
        .served(feedPath)
        .toString('utf8')
        .replace('"updated": "2025-12-12T15:08:00Z"', '"updated": "2025-12-13T09:00:00Z"'),
    );
    const again = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) });
    expect(again.refused).toBeUndefined();
    expect(again.advisories.advisories).toBe(1);
    expect(await advisoryIds()).toEqual(['isduba-2025-01', 'isduba-2025-02']);
  });

  it('a document with its true hash but a signature by another key (Stackable’s) is refused and nothing of it stored', async () => {
    isduba.replace(`${doc1}.asc`, providerFixture('stackable', '2026/cve-2026-42203.json.asc'));
    const result = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) });
    expect(result.refused).toEqual([
      expect.objectContaining({
        url: isduba.at(doc1),
        reason: expect.stringMatching(
          /is by key 31905DED3EFD610A, which is not a trusted key of this provider \(A25FE0F175896BFA636F1A051DE645B1926835DD\)/,
        ),
      }),
    ]);
    await assertNothingOf('isduba-2025-01', doc1Cves);
    expect(await advisoryIds()).toEqual(['isduba-2025-02']);
  });

  it('a key whose fingerprint is not the one provider-metadata.json states is not trusted; with no other key the sync fails and stores nothing', async () => {
    const metadata = metadataJson();
    const keys = metadata['public_openpgp_keys'] as { fingerprint: string; url: string }[];
    // The listed key's URL now serves Stackable's key: its fingerprint is not the stated A25F…35DD.
    isduba.replace(
      '/.well-known/csaf/openpgp/A25FE0F175896BFA636F1A051DE645B1926835DD.asc',
      providerFixture('stackable', 'openpgp/4005788070EAA8A5.txt'),
    );
    const err = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(
      /has no usable OpenPGP key, so no document can be verified and none is stored: key .* has fingerprint 218E03479FE800223105FEA631905DED3EFD610A, but provider-metadata.json states A25FE0F175896BFA636F1A051DE645B1926835DD/,
    );
    expect(await feedTableCounts(t.db)).toMatchObject({ advisories: 0, cves: 0, patches: 0, feed_state: 0 });

    // Beside a key that matches, the bad one is skipped with a warning and the documents verify.
    isduba.replace(
      '/.well-known/csaf/openpgp/stackable.asc',
      providerFixture('stackable', 'openpgp/4005788070EAA8A5.txt'),
    );
    isduba.replace(
      '/.well-known/csaf/openpgp/A25FE0F175896BFA636F1A051DE645B1926835DD.asc',
      providerFixture('isduba', 'openpgp/A25FE0F175896BFA636F1A051DE645B1926835DD.asc'),
    );
    isduba.replace(
      isdubaMetadata,
      JSON.stringify({
        ...metadata,
        public_openpgp_keys: [
          { fingerprint: keys[0]?.fingerprint, url: isduba.at('/.well-known/csaf/openpgp/stackable.asc') },
          ...keys,
        ],
      }),
    );
    const result = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) });
    expect(result.refused).toBeUndefined();
    expect(await advisoryIds()).toEqual(['isduba-2025-01', 'isduba-2025-02']);
    expect(logger.lines.filter((l) => l.msg === 'CSAF provider key not trusted').at(-1)?.fields['problem']).toMatch(
      /stackable\.asc has fingerprint 218E03479FE800223105FEA631905DED3EFD610A/,
    );
  });

  it('a configured key that did not sign the document refuses it; a pinned fingerprint that does not match is a configuration error', async () => {
    await saveFeedState(t.db, 'csaf', { cursor: beforeStackableDoc });
    const older = providerFixturePath('stackable', 'openpgp/A2A781A51BC3B8C6.txt');
    const result = await sync({ url: stackable.at(stackableDir), openpgpKeys: [older], maxDocuments: 1 });
    expect(result.refused?.[0]?.reason).toMatch(/is by key 31905DED3EFD610A, which is not a trusted key/);
    await assertNothingOf('CVE-2026-42203', ['CVE-2026-42203']);

    await saveFeedState(t.db, 'csaf', { cursor: beforeStackableDoc });
    const current = providerFixturePath('stackable', 'openpgp/4005788070EAA8A5.txt');
    const pinned = sync({
      url: stackable.at(stackableDir),
      openpgpKeys: [`${current}#A25FE0F175896BFA636F1A051DE645B1926835DD`],
      maxDocuments: 1,
    });
    await expect(pinned).rejects.toThrow(InputError);
    await expect(pinned).rejects.toThrow(
      /openpgpKeys\.0 .*has fingerprint 218E03479FE800223105FEA631905DED3EFD610A, not the pinned A25FE0F1/,
    );
    const ok = await sync({
      url: stackable.at(stackableDir),
      openpgpKeys: [`${current}#218E03479FE800223105FEA631905DED3EFD610A`],
      maxDocuments: 1,
    });
    expect(ok.refused).toBeUndefined();
    expect(await advisoryIds()).toEqual(['CVE-2026-42203']);
  });

  it('missing signature or hash files refuse the document unless not required; a wrong hash refuses always', async () => {
    isduba.remove(`${doc1}.asc`);
    isduba.remove(`${doc2}.sha512`);
    isduba.remove(`${doc2}.sha256`);
    const result = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) });
    expect(result.refused?.map((r) => [r.url, r.reason])).toEqual([
      [isduba.at(doc1), `no signature published (${isduba.at(`${doc1}.asc`)})`],
      [isduba.at(doc2), expect.stringMatching(/^no hash published \(.*\.sha512, .*\.sha256\)$/)],
    ]);
    expect(await feedTableCounts(t.db)).toMatchObject({ advisories: 0, cves: 0, feed_state: 1 });

    await t.db('feed_state').delete();
    const lax = await sync({
      providerMetadataUrl: isduba.at(isdubaMetadata),
      requireSignature: false,
      requireHash: false,
    });
    expect(lax.refused).toBeUndefined();
    expect(await advisoryIds()).toEqual(['isduba-2025-01', 'isduba-2025-02']);

    await t.db('feed_state').delete();
    isduba.replace(doc2, isduba.served(doc2).toString('utf8').replace('React', 'Reakt'));
    isduba.replace(`${doc2}.sha256`, providerFixture('isduba', 'white/2025/isduba-2025-02.json.sha256'));
    const wrong = await sync({
      providerMetadataUrl: isduba.at(isdubaMetadata),
      requireSignature: false,
      requireHash: false,
    });
    expect(wrong.refused?.map((r) => r.reason)).toEqual([expect.stringMatching(/^SHA-256 of the document is /)]);
  });

  it('a provider-metadata.json or ROLIE feed with a wrong field fails the sync with an error naming the field', async () => {
    const published = isduba.served(isdubaMetadata);
    const metadata = metadataJson();
    const distributions = metadata['distributions'] as { rolie?: { feeds: { tlp_label: string }[] } }[];
    distributions[0]!.rolie!.feeds[1]!.tlp_label = 'PURPLE';
    isduba.replace(isdubaMetadata, JSON.stringify(metadata));
    const err = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toMatch(
      /^invalid CSAF provider-metadata\.json \(http:.*\): distributions\.0\.rolie\.feeds\.1\.tlp_label: /,
    );
    expect((err as InputError).details[0]?.path).toEqual(['distributions', 0, 'rolie', 'feeds', 1, 'tlp_label']);

    isduba.replace(
      isdubaMetadata,
      JSON.stringify({ ...metadataJson(), public_openpgp_keys: [{ fingerprint: 'A25FE0F1', url: 'x' }] }),
    );
    await expect(sync({ providerMetadataUrl: isduba.at(isdubaMetadata) })).rejects.toThrow(
      /public_openpgp_keys\.0\.url: .*; public_openpgp_keys\.0\.fingerprint: a hexadecimal OpenPGP fingerprint/,
    );

    isduba.replace(isdubaMetadata, JSON.stringify({ ...metadataJson(), distributions: [{}] }));
    await expect(sync({ providerMetadataUrl: isduba.at(isdubaMetadata) })).rejects.toThrow(
      /distributions\.0: a distribution names a directory_url or rolie feeds/,
    );

    isduba.replace(isdubaMetadata, published);
    const feedPath = `${white}/csaf-feed-tlp-white.json`;
    isduba.replace(
      feedPath,
      isduba.served(feedPath).toString('utf8').replace('"updated": "2025-12-12T15:08:00Z"', '"updated": "soon"'),
    );
    await expect(sync({ providerMetadataUrl: isduba.at(isdubaMetadata) })).rejects.toThrow(
      /^invalid CSAF ROLIE feed \(http:.*csaf-feed-tlp-white\.json\): feed\.entry\.1\.updated: a timestamp/,
    );
    expect(await feedTableCounts(t.db)).toMatchObject({ advisories: 0, cves: 0, feed_state: 0 });
  });

  it('TLP: the feeds whose label is asked for are read and merged under one cursor; none asked for is an error', async () => {
    const both = await sync({ providerMetadataUrl: isduba.at(isdubaMetadata), tlp: ['WHITE', 'GREEN'] });
    expect(await advisoryIds()).toEqual(['isduba-2025-01', 'isduba-2025-02']);
    expect(both.state).toEqual({ cursor: '2025-12-12T16:20:00.000Z' });
    expect(isduba.requests.map((r) => r.path)).toEqual(
      expect.arrayContaining([`${white}/csaf-feed-tlp-white.json`, '/.well-known/csaf/green/csaf-feed-tlp-green.json']),
    );
    expect(isduba.requests.map((r) => r.path)).not.toContain('/.well-known/csaf/red/csaf-feed-tlp-red.json');

    await expect(sync({ providerMetadataUrl: isduba.at(isdubaMetadata), tlp: ['UNLABELED'] })).rejects.toThrow(
      /offers ROLIE feeds for WHITE, GREEN, AMBER, RED, none for tlp UNLABELED/,
    );
  });
});

describe('CSAF config and discovery', () => {
  it('takes one source: a directory, a provider-metadata.json or a domain', () => {
    const defaults = csafConfigSchema.parse({});
    expect(defaults.url).toBeUndefined();
    expect(defaults).toMatchObject({
      tlp: ['WHITE'],
      requireSignature: true,
      requireHash: true,
      openpgpKeys: [],
    });
    const both = csafConfigSchema.safeParse({ url: 'https://a.example/csaf/', domain: 'a.example' });
    expect(both.error?.issues[0]).toMatchObject({
      path: ['domain'],
      message: 'give one of url, providerMetadataUrl, domain, not url and domain',
    });
    expect(csafConfigSchema.safeParse({ domain: 'https://isduba.github.io' }).error?.issues[0]?.path).toEqual([
      'domain',
    ]);
    expect(csafConfigSchema.parse({ tlp: ['CLEAR', 'GREEN'] }).tlp).toEqual(['WHITE', 'GREEN']);
  });

  it("a domain's provider-metadata.json is looked for at its well-known place", () => {
    expect(providerMetadataUrl({ domain: 'isduba.github.io' })).toBe(
      'https://isduba.github.io/.well-known/csaf/provider-metadata.json',
    );
    expect(providerMetadataUrl({})).toBeUndefined();
  });
});

describe('CSAF hash files', () => {
  const sha256 = 'd46b123864329a603e54b0c3850172b2bd168c024d1fea9919fef699eb2ac263';

  it('reads a sha256sum line whose name carries a path and which has no trailing newline (Stackable)', () => {
    const text = providerFixture('stackable', '2026/cve-2026-42203.json.sha256').toString('utf8');
    expect(text.endsWith('\n')).toBe(false);
    expect(parseHashFile(text)).toEqual([{ hex: sha256, name: '2026/cve-2026-42203.json' }]);
  });

  it('reads one space between digest and name (ISDuBA), a `*` binary marker, CRLF and a bare digest', () => {
    expect(parseHashFile(providerFixture('isduba', 'white/2025/isduba-2025-01.json.sha256').toString('utf8'))).toEqual([
      { hex: 'f24e1e217f74f13f4d16d9aa8821d78fd9d60d6186a889b901ac9ff445351986', name: 'isduba-2025-01.json' },
    ]);
    expect(parseHashFile(`${sha256} *cve-2026-42203.json\r\n`)).toEqual([{ hex: sha256, name: 'cve-2026-42203.json' }]);
    expect(parseHashFile(sha256)).toEqual([{ hex: sha256, name: undefined }]);
  });

  it('reads uppercase hex as the same digest', () => {
    expect(parseHashFile(`${sha256.toUpperCase()}  2026/cve-2026-42203.json`)).toEqual([
      { hex: sha256, name: '2026/cve-2026-42203.json' },
    ]);
    const body = providerFixture('stackable', '2026/cve-2026-42203.json');
    const url = 'https://advisories.stackable.tech/csaf/v2/advisories/2026/cve-2026-42203.json';
    expect(checkHash(body, `${sha256.toUpperCase()}  2026/cve-2026-42203.json`, `${url}.sha256`, url)).toBeUndefined();
  });

  it('checks the real files, and a file listing several documents by the line naming this one', () => {
    const body = providerFixture('stackable', '2026/cve-2026-42203.json');
    const url = 'https://advisories.stackable.tech/csaf/v2/advisories/2026/cve-2026-42203.json';
    for (const ext of ['sha256', 'sha512'])
      expect(
        checkHash(
          body,
          providerFixture('stackable', `2026/cve-2026-42203.json.${ext}`).toString(),
          `${url}.${ext}`,
          url,
        ),
      ).toBeUndefined();
    const other = 'f24e1e217f74f13f4d16d9aa8821d78fd9d60d6186a889b901ac9ff445351986';
    const list = `${other}  2025/isduba-2025-01.json\n${sha256}  2026/cve-2026-42203.json\n`;
    expect(checkHash(body, list, `${url}.sha256`, url)).toBeUndefined();
    expect(checkHash(body, `${other}  a.json\n${other}  b.json\n`, `${url}.sha256`, url)).toMatch(
      /lists 2 files, none of them cve-2026-42203\.json/,
    );
    expect(checkHash(Buffer.concat([body, Buffer.from(' ')]), `${sha256}  x`, `${url}.sha256`, url)).toMatch(
      /^SHA-256 of the document is [0-9a-f]{64}, but .* publishes d46b1238/,
    );
    // A SHA-256 digest in a .sha512 file is not taken for a SHA-512 one.
    expect(checkHash(body, sha256, `${url}.sha512`, url)).toMatch(/holds a 64-digit value, not a SHA-512 digest/);
  });

  it('refuses what is not a digest line, naming the line', () => {
    expect(() => parseHashFile('')).toThrow(/the hash file is empty/);
    expect(() => parseHashFile(`${sha256}  a.json\nnot a hash\n`)).toThrow(/hash file line 2 is not/);
    expect(() => parseHashFile('da39a3ee5e6b4b0d3255bfef95601890afd80709  sha1.json')).toThrow(/line 1/);
    expect(() => parseHashFile(`SHA256 (a.json) = ${sha256}`)).toThrow(InputError);
  });
});
