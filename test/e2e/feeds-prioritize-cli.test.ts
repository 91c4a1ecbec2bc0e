import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startStack, type TestStack } from '../helpers/stack.ts';
import { feedTableCounts } from '../helpers/feed-tables.ts';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/patchflow.mjs', import.meta.url));
const fixtures = path.resolve(import.meta.dirname, '../fixtures/feeds');

describe('feeds and prioritisation through the CLI and REST API', () => {
  let stack: TestStack;
  // The CLI is a REST client: it gets the server's URL and a coordinator's token, no database.
  const patchflow = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, [cli, ...args], {
        env: { PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_TOKEN: await stack.tokenFor('carol') },
        encoding: 'utf8',
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => stack.stop());

  it('imports KEV, CVE JSON 5, EPSS and MSRC files as raw bodies and reports counts as JSON', async () => {
    const kev = await patchflow(
      'feeds',
      'import',
      'kev',
      path.join(fixtures, 'kev/known_exploited_vulnerabilities.json'),
      '--json',
    );
    expect(kev.code, kev.stderr).toBe(0);
    expect(JSON.parse(kev.stdout)).toMatchObject({ feed: 'kev', cves: { inserted: 1404 } });
    const cve = await patchflow(
      'feeds',
      'import',
      'nvd',
      path.join(fixtures, 'cve/cve-json5/CVE-2018-2628.json'),
      '--json',
    );
    expect(JSON.parse(cve.stdout)).toMatchObject({ feed: 'nvd', cves: { updated: 1 } });
    const msrc = await patchflow(
      'feeds',
      'import',
      'msrc',
      path.join(fixtures, 'advisories/msrc-cvrf/cvrfDocument-2023-Dec.xml'),
    );
    expect(msrc.stdout).toMatch(/^msrc: 51 CVEs \(\d+ new, \d+ updated\), 1 advisories, \d+ patches/);
  });

  it('refuses a damaged file with the reason and exit code 2, leaving the database unchanged', async () => {
    const before = await feedTableCounts(stack.ctx.db);
    const bad = await patchflow(
      'feeds',
      'import',
      'epss',
      path.join(fixtures, 'advisories/msrc-cvrf/cvrfDocument-2017-May-B.xml'),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/EPSS CSV has no "#model_version/);
    expect(await feedTableCounts(stack.ctx.db)).toEqual(before);
    const unknown = await patchflow('feeds', 'import', 'oval', path.join(fixtures, 'epss/example-1.csv'));
    expect(unknown.stderr).toMatch(/no advisory feed "oval"; known feeds: kev, epss, nvd, msrc, csaf/);
  });

  it('ranks an open finding on a KEV CVE with the reason, over REST and the CLI', async () => {
    const asset = (await stack.ctx
      .db('assets')
      .insert({ hostname: 'weblogic-01', exposure: 'internet', criticality: 1 })
      .returning('id')) as { id: string }[];
    await stack.ctx.db('findings').insert({
      asset_id: asset[0]?.id,
      source: 'nessus',
      plugin_id: '109429',
      cve_id: 'CVE-2018-2628',
      severity: 4,
      title: 'Oracle WebLogic RCE',
      first_seen: new Date().toISOString(),
      last_seen: new Date().toISOString(),
    });

    const rest = await api<{ items: { hostname: string; decision: string; explanation: string }[] }>(
      stack,
      'GET',
      '/api/findings/prioritized?view=all&limit=5',
    );
    expect(rest.status).toBe(200);
    expect(rest.body.items[0]).toMatchObject({ hostname: 'weblogic-01', decision: 'Act' });
    expect(rest.body.items[0]?.explanation).toMatch(
      // The KEV entry's CISA due date is in the past: it, not the policy's 72 h, sets the deadline.
      /^KEV (\(ransomware\) )?· CVSS 9\.8 AV:N · internet-facing tier-1 → Act, overdue by \d+d$/,
    );

    // Under BOD 26-04 it is still the urgent tier with forensic triage; CISA's passed due date makes it overdue.
    const out = await patchflow('findings', 'prioritize', '--view', 'overdue', '--policy', 'bod-26-04', '--json');
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual([
      expect.objectContaining({
        hostname: 'weblogic-01',
        sla: expect.objectContaining({ rule: 'CISA KEV due date', forensicTriage: true, overdue: true }),
      }),
    ]);

    const bad = await api<{ error: { details: { path: string[] }[] } }>(
      stack,
      'GET',
      '/api/findings/prioritized?view=later',
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0]?.path).toEqual(['view']);
  });

  it('stores a Windows baseline and evaluates the imported MSRC KBs against it', async () => {
    const file = path.join(stack.dataDir, 'windows-baseline.json');
    writeFileSync(
      file,
      JSON.stringify({
        platform: 'windows',
        rules: [{ classifications: ['Security Updates'], minSeverity: 'important', approveAfter: '7d' }],
        reject: ['KB5033375'],
      }),
    );
    const set = await patchflow('baselines', 'set', 'windows', file, '--json');
    expect(set.code, set.stderr).toBe(0);
    const listed = JSON.parse((await patchflow('baselines', 'list', '--json')).stdout) as { id: string }[];
    expect(listed.map((b) => b.id)).toContain('windows');

    const out = await patchflow('baselines', 'evaluate', 'windows', '--json');
    const results = JSON.parse(out.stdout) as { patchId: string; approved: boolean; reason: string }[];
    const windowsKbs = (await stack.ctx.db('patches').where({ platform: 'windows' }).count({ n: '*' }).first()) as {
      n: number;
    };
    expect(results).toHaveLength(Number(windowsKbs.n));
    expect(results.find((r) => r.patchId === 'KB5033371')).toMatchObject({
      approved: true,
      reason: expect.stringMatching(/released 2023-12-12, approvable since 2023-12-19$/),
    });
    expect(results.find((r) => r.patchId === 'KB5033375')).toMatchObject({
      approved: false,
      reason: 'KB5033375 is on the reject list of baseline windows',
    });

    writeFileSync(file, JSON.stringify({ platform: 'windows', rules: [{ approveAfter: 'next week' }] }));
    const bad = await patchflow('baselines', 'set', 'windows', file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/rules\.0\.approveAfter/);

    // MSRC's singular "Security Update" is not WSUS's name for the class: refused, naming the rule and the names.
    writeFileSync(
      file,
      JSON.stringify({ platform: 'windows', rules: [{ classifications: ['Security Update'], approveAfter: '7d' }] }),
    );
    const vendorWord = await patchflow('baselines', 'set', 'windows', file);
    expect(vendorWord.code).toBe(2);
    expect(vendorWord.stderr).toContain(
      '  rules.0.classifications.0: "Security Update" is not a classification Patchflow knows (did you mean "Security Updates"?); the classifications are: Applications, Critical Updates,',
    );
  });
});
