import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../../app/context.ts';
import { listen, type RunningHttpServer } from '../../runtime/http-server.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { createLogger } from '../../kernel/logger.ts';
import { ConnectorRegistry } from '../../integrations/contract/registry.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { hostileReports, scannerFixtures } from '../helpers/scan-reports.ts';
import { ensureLocalTokens } from '../../security/index.ts';

const run = promisify(execFile);
const cliPath = path.resolve('bin/patchflow.mjs');

describe('inventory, groups and scan intake over REST and the CLI', () => {
  let t: TestDatabase;
  let server: RunningHttpServer;
  let dir: string;
  const maxScanBytes = 2 * 1024 * 1024;
  let adminToken: string;

  const api = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: {
        ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
        authorization: `Bearer ${adminToken}`,
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  /** Runs the real CLI against the test server; execFile (not the sync variant) so that this process keeps serving. */
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run('node', [cliPath, ...args], {
        env: { ...process.env, PATCHFLOW_URL: server.url, PATCHFLOW_DATA_DIR: dir },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const counts = async () =>
    Object.fromEntries(
      await Promise.all(
        ['assets', 'findings', 'cves'].map(async (table) => [
          table,
          Number((await t.db(table).count<{ n: number }[]>({ n: '*' }))[0]!.n),
        ]),
      ),
    );

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = mkdtempSync(path.join(tmpdir(), 'patchflow-inventory-'));
    adminToken = (await ensureLocalTokens(t.db, dir)).admin!;
    const ctx: AppContext = {
      settings: { ...loadSettings({}), scanImportMaxBytes: maxScanBytes },
      db: t.db,
      logger: createLogger({}, 'error'),
      registry: new ConnectorRegistry([]),
      // These routes never reach Temporal.
      temporal: {} as Client,
    };
    server = await listen(ctx, '127.0.0.1', 0);
  });
  afterAll(async () => {
    await server.close();
    await t.drop();
  });

  it('creates, reads, changes, lists and deletes assets', async () => {
    const created = await api('POST', '/api/assets', {
      hostname: 'Web-01',
      ips: ['10.0.0.1'],
      criticality: 1,
      exposure: 'internet',
      tags: ['pci'],
    });
    expect(created).toMatchObject({ status: 201, body: { hostname: 'web-01', criticality: 1 } });
    expect((await api('POST', '/api/assets', { hostname: 'web-01', criticality: 2 })).status).toBe(200);
    expect((await api('GET', `/api/assets/${created.body.id}`)).body).toMatchObject({
      hostname: 'web-01',
      criticality: 2,
    });
    expect((await api('PATCH', '/api/assets/WEB-01', { platform: 'linux', patchGroup: 'staging' })).body).toMatchObject(
      { platform: 'linux', patchGroup: 'staging' },
    );
    expect((await api('PATCH', '/api/assets/web-01', { platform: null })).body.platform).toBeUndefined();
    expect(await api('PATCH', '/api/assets/web-01', { criticality: 9 })).toMatchObject({
      status: 400,
      body: { error: { details: [{ path: ['criticality'] }] } },
    });
    expect(await api('POST', '/api/assets', { hostname: 'x', colour: 'red' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input' } },
    });
    await api('POST', '/api/assets', { hostname: 'temp-01' });
    expect(await api('PATCH', '/api/assets/temp-01', { hostname: 'web-01' })).toMatchObject({ status: 409 });
    expect((await api('DELETE', '/api/assets/temp-01')).status).toBe(204);
    expect((await api('GET', '/api/assets/temp-01')).status).toBe(404);
    expect(
      (await api('GET', `/api/assets?query=${encodeURIComponent('tier<=2 and hostname~web-*')}`)).body,
    ).toMatchObject({ total: 1, assets: [{ hostname: 'web-01' }] });
    expect(await api('GET', `/api/assets?query=${encodeURIComponent('tier<=')}`)).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/column 7/) } },
    });
  });

  it('imports a CSV with the CLI, and refuses a bad one listing rows and fields without writing', async () => {
    const good = path.join(dir, 'fleet.csv');
    writeFileSync(
      good,
      'hostname,ip,tier,exposure,platform,patch group,tags\nadam,192.168.16.133,1,internal,windows,canary,ad\ndc01,10.0.101.2,2,internal,windows,production,ad;pci\nweb-02,10.0.0.2,3,internet,linux,production,\n',
    );
    const imported = await cli('assets', 'import', good, '--json');
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toEqual({ imported: 3, created: 3, updated: 0 });

    const bad = path.join(dir, 'bad.csv');
    writeFileSync(bad, 'hostname,ip,tier\nnew-01,10.0.0.9,1\nnew-02,10.0.0.300,1\nnew-03,10.0.0.10,5\n');
    const before = await counts();
    const refused = await cli('assets', 'import', bad, '--json');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/row 3 ips\.0: an IPv4 or IPv6 address/);
    expect(refused.stderr).toMatch(/row\.4\.criticality: tier 1/);
    expect(await counts()).toEqual(before);

    const json = await api('POST', '/api/assets/import', [{ hostname: 'json-01' }, { hostname: 'json-02', tier: 1 }]);
    expect(json).toMatchObject({ status: 400, body: { error: { details: [{ path: ['row', 2] }] } } });
  });

  it('lists assets by query and by saved group with the CLI', async () => {
    const listed = await cli('assets', 'list', '--query', 'platform=windows or tag=pci', '--json');
    // web-01 lost its pci tag when it was saved again without tags: POST replaces an asset whole.
    expect(
      JSON.parse(listed.stdout)
        .map((a: { hostname: string }) => a.hostname)
        .sort(),
    ).toEqual(['adam', 'dc01']);
    const badQuery = await cli('assets', 'list', '--query', 'tier<=2 and', '--json');
    expect(badQuery.code).toBe(2);
    expect(badQuery.stderr).toMatch(/invalid query at column 12: expected a field name/);

    const saved = await cli('groups', 'save', 'critical-windows', '--query', 'tier<=2 and platform=windows', '--json');
    expect(JSON.parse(saved.stdout)).toMatchObject({ name: 'critical-windows', members: 2 });
    expect((await api('PUT', '/api/groups/broken', { query: 'exposure=internt' })).status).toBe(400);
    const groups = JSON.parse((await cli('groups', 'list', '--json')).stdout);
    expect(groups).toEqual([
      expect.objectContaining({ name: 'critical-windows', query: 'tier<=2 and platform=windows', members: 2 }),
    ]);
    const shown = JSON.parse((await cli('groups', 'show', 'critical-windows', '--json')).stdout);
    expect(shown.assets.map((a: { hostname: string }) => a.hostname).sort()).toEqual(['adam', 'dc01']);
    const inGroup = JSON.parse(
      (await cli('assets', 'list', '--group', 'critical-windows', '--query', 'tag=pci', '--json')).stdout,
    );
    expect(inGroup.map((a: { hostname: string }) => a.hostname)).toEqual(['dc01']);
    expect((await cli('groups', 'delete', 'critical-windows')).code).toBe(0);
    expect((await api('GET', '/api/groups/critical-windows')).status).toBe(404);
  });

  it.each(scannerFixtures)(
    'imports $file with the CLI and prints exactly the summary',
    async ({ path: file, expected }) => {
      const r = await cli('scan', 'import', file, '--json');
      expect(r.stderr).toBe('');
      const summary = JSON.parse(r.stdout);
      expect(Object.keys(summary)).toEqual(['hosts', 'findings', 'cves', 'bySeverity', 'unmatchedHosts', 'closed']);
      expect(summary).toMatchObject(expected);
    },
  );

  it('reports hosts that are not in the inventory', async () => {
    const r = await cli(
      'scan',
      'import',
      scannerFixtures.find((f) => f.file === 'nessus_many_vuln.xml')!.path,
      '--format',
      'nessus',
      '--json',
    );
    expect(JSON.parse(r.stdout).unmatchedHosts).toEqual(['preprod.boardvantage.net']);
  });

  it.each(hostileReports)('refuses $name over REST with a clear 400 and no change', async ({ body, error }) => {
    const before = await counts();
    const r = await api('POST', '/api/scans/import', body, { 'content-type': 'application/xml' });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(error);
    expect(await counts()).toEqual(before);
  });

  it('refuses a JSON body, a wrong demanded format and a report over the size limit', async () => {
    expect((await api('POST', '/api/scans/import', { hosts: [] })).body.error.message).toMatch(/not JSON/);
    const one = scannerFixtures.find((f) => f.file === 'one_vuln.xml')!;
    expect(
      (await api('POST', '/api/scans/import?format=nessus', one.text, { 'content-type': 'application/xml' })).body.error
        .message,
    ).toMatch(/openvas, not nessus/);
    const huge = `<NessusClientData_v2><Report name="r">${'<!-- padding -->'.repeat(maxScanBytes / 8)}</Report></NessusClientData_v2>`;
    const tooBig = await api('POST', '/api/scans/import', huge, { 'content-type': 'application/xml' });
    expect(tooBig).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/larger than the 2097152 bytes/) } },
    });
  });

  it('says so when a truncated report is uploaded with the CLI', async () => {
    const example = scannerFixtures.find((f) => f.file === 'example.nessus')!;
    const truncated = path.join(dir, 'truncated.nessus');
    writeFileSync(truncated, example.text.slice(0, 700_000));
    const before = await counts();
    const r = await cli('scan', 'import', truncated, '--json');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not well-formed XML: unclosed tag/);
    expect(await counts()).toEqual(before);
  });
});
