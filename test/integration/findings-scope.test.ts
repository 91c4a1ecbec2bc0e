import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CyclePlan } from '../../app/plan.ts';
import type { CycleDetail } from '../../db/repositories/cycles.ts';
import { api, finished, inPhase, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

interface ErrorBody {
  error: { code: string; message: string; details: { path: (string | number)[]; message: string }[] };
}

/**
 * A cycle scoped by the findings rather than typed in: which patch, which assets, which ring and
 * which deadline come from the prioritised findings and the patch baselines.
 */
describe('cycle scope from prioritised findings and baselines', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack();
    expect((await api(stack, 'POST', '/api/demo/seed')).status).toBe(200);
  });
  afterAll(async () => stack?.stop());

  it('plans the patch where the findings need it, with ring, risk, deadline and the baseline that approved it', async () => {
    const { status, body: plan } = await api<CyclePlan>(
      stack,
      'POST',
      '/api/cycles/plan',
      { fromFindings: {} },
      'carol',
    );
    expect(status).toBe(200);
    // The demo scan finds HTTP/2 Rapid Reset (CVE-2023-44487, KEV) on the two web hosts only; the patch fixes it.
    const byHost = Object.fromEntries(plan.findings!.targets.map((t) => [t.hostname, t]));
    expect(Object.keys(byHost).sort()).toEqual(['staging-01', 'web-01', 'web-02']);
    expect(byHost['web-01']).toMatchObject({ patchId: 'DEMO-APP-2.4.1', ring: 'pilot' });
    expect(byHost['web-01']!.why).toMatch(
      /fixes CVE-2023-44487: KEV · EPSS .* internet-facing tier-3 → \w+, overdue by \d+d/,
    );
    // Seen moments ago, but CISA's due date for Rapid Reset passed long since: that is the deadline, not 14 days from now.
    const kev = (await stack.ctx.db('cves').where({ id: 'CVE-2023-44487' }).first('kev_due_date')) as {
      kev_due_date: Date;
    };
    expect(Date.parse(byHost['web-01']!.dueAt!)).toBeLessThan(Date.now());
    // pg reads a date as local midnight; CISA's date is met by the end of that day, UTC.
    const due = kev.kev_due_date;
    expect(byHost['web-01']!.dueAt).toBe(
      new Date(Date.UTC(due.getFullYear(), due.getMonth(), due.getDate() + 1)).toISOString(),
    );
    expect(byHost['staging-01']).toMatchObject({ ring: 'staging', dueAt: null });
    expect(plan.findings!.approvedBy['DEMO-APP-2.4.1']).toMatch(
      /^approved by rule 1 \(Security Updates, important or worse, 3d after release\)/,
    );
    expect(plan.rings.find((r) => r.ring === 'pilot')).toMatchObject({
      targets: 2,
      hosts: [{ hostname: 'web-01' }, { hostname: 'web-02' }],
    });
    expect(plan.rings.filter((r) => r.ring !== 'pilot').every((r) => r.targets === 0)).toBe(true);
    expect(plan.staging.hosts).toEqual(['staging-01']);
  });

  it('holds back a patch no baseline approves, and says which and why', async () => {
    await api(stack, 'PUT', '/api/baselines/demo-linux', {
      platform: 'linux',
      rules: [{ classifications: ['Security Updates'], approveAfter: '3d' }],
      reject: ['DEMO-APP-2.4.1'],
    });
    const { status, body } = await api<ErrorBody>(stack, 'POST', '/api/cycles/plan', { fromFindings: {} }, 'carol');
    expect(status).toBe(400);
    expect(body.error.message).toBe(
      'nothing to patch from the findings: the patches that fix them are held back: DEMO-APP-2.4.1 (DEMO-APP-2.4.1 is on the reject list of baseline demo-linux)',
    );
    expect(body.error.details).toEqual([{ path: ['fromFindings'], message: 'no asset × patch in scope' }]);
    await api(stack, 'PUT', '/api/baselines/demo-linux', {
      platform: 'linux',
      rules: [{ classifications: ['Security Updates'], approveAfter: '3d' }],
    });
  });

  it('refuses a baseline naming a classification or platform Patchflow does not know, naming the field', async () => {
    const before = await api<{ baselines: object[] }>(stack, 'GET', '/api/baselines');
    const vendorWord = await api<ErrorBody>(stack, 'PUT', '/api/baselines/demo-linux', {
      platform: 'Linux',
      rules: [{ classifications: ['Security Updates', 'Security Update'], approveAfter: '3d' }],
    });
    expect(vendorWord.status).toBe(400);
    expect(vendorWord.body.error.details).toEqual([
      {
        path: ['rules', 0, 'classifications', 1],
        message:
          '"Security Update" is not a classification Patchflow knows (did you mean "Security Updates"?); the classifications are: Applications, Critical Updates, Definition Updates, Drivers, Feature Packs, Security Updates, Service Packs, Tools, Update Rollups, Updates, Upgrades',
      },
    ]);
    const family = await api<ErrorBody>(stack, 'PUT', '/api/baselines/rhel', {
      platform: 'Red Hat Enterprise Linux',
      rules: [{ approveAfter: '3d' }],
    });
    expect(family.status).toBe(400);
    expect(family.body.error.details).toEqual([
      {
        path: ['platform'],
        message:
          '"Red Hat Enterprise Linux" is not a platform Patchflow knows (did you mean "linux"?); the platforms are: windows, linux, macos, *',
      },
    ]);
    expect((await api(stack, 'GET', '/api/baselines')).body).toEqual(before.body);
    // Any case will do; the baseline is kept in the vocabulary's spelling.
    const saved = await api(stack, 'PUT', '/api/baselines/demo-linux', {
      platform: 'Linux',
      rules: [{ classifications: ['security updates'], minSeverity: 'important', approveAfter: '3d' }],
    });
    expect(saved.body).toMatchObject({ platform: 'linux', rules: [{ classifications: ['Security Updates'] }] });
  });

  it('refuses a bad scope naming the field, and starts nothing', async () => {
    const before = await stack.ctx.db('cycles').count<{ n: string }[]>('* as n');
    const { status, body } = await api<ErrorBody>(
      stack,
      'POST',
      '/api/cycles',
      { fromFindings: { view: 'someday', minScore: 300 } },
      'carol',
    );
    expect(status).toBe(400);
    expect(body.error.details.map((d) => d.path.join('.')).sort()).toEqual([
      'fromFindings.minScore',
      'fromFindings.view',
    ]);
    expect(await stack.ctx.db('cycles').count<{ n: string }[]>('* as n')).toEqual(before);
  });

  it('runs the derived cycle: only the pairs in scope get cycle targets, and real Ansible patches exactly those hosts', async () => {
    const started = await api<CycleDetail>(stack, 'POST', '/api/cycles', { fromFindings: { minScore: 10 } }, 'carol');
    expect(started.status).toBe(201);
    const id = started.body.cycle.id;
    await waitForCycle(stack, id, inPhase('approval'), 120_000);
    const targets = (await stack.ctx
      .db('cycle_targets as t')
      .join('assets as a', 'a.id', 't.asset_id')
      .where({ 't.cycle_id': id })
      .select('a.hostname', 't.patch_id', 't.ring')
      .orderBy('a.hostname')) as { hostname: string; patch_id: string; ring: string }[];
    expect(targets).toEqual([
      { hostname: 'staging-01', patch_id: 'DEMO-APP-2.4.1', ring: 'staging' },
      { hostname: 'web-01', patch_id: 'DEMO-APP-2.4.1', ring: 'pilot' },
      { hostname: 'web-02', patch_id: 'DEMO-APP-2.4.1', ring: 'pilot' },
    ]);
    expect((await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice')).status).toBe(200);
    const done = await waitForCycle(stack, id, finished, 180_000);
    expect(done.cycle.status).toBe('completed');
    const version = (h: string) => readFileSync(`${stack.fleet.hostRoot(h)}/app/VERSION`, 'utf8').trim();
    expect(['web-01', 'web-02', 'staging-01'].map(version)).toEqual(['2.4.1', '2.4.1', '2.4.1']);
    // Hosts without the finding were left alone.
    expect(['app-01', 'db-01'].map(version)).toEqual(['2.4.0', '2.4.0']);
    // No scanner is configured: verification is the deployer's word, and says so, and the findings close with that label.
    expect((done.cycle.summary as { verification: Record<string, unknown> }).verification).toMatchObject({
      method: 'deployer',
      deployerReported: 3,
      compliant: 3,
    });
    const rapidReset = (await stack.ctx
      .db('findings as f')
      .join('assets as a', 'a.id', 'f.asset_id')
      .where({ 'f.cve_id': 'CVE-2023-44487' })
      .select('a.hostname', 'f.status', 'f.fixed_by')
      .orderBy('a.hostname')) as { hostname: string; status: string; fixed_by: string }[];
    expect(rapidReset).toEqual([
      { hostname: 'web-01', status: 'fixed', fixed_by: `deployer-reported (cycle ${id})` },
      { hostname: 'web-02', status: 'fixed', fixed_by: `deployer-reported (cycle ${id})` },
    ]);
  });
});
