import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AssetDetail, AssetHistory } from '../../app/asset-records.ts';
import { idempotencyKey } from '../../db/repositories/cycles.ts';
import { upsertUser } from '../../db/repositories/users.ts';
import { runCli } from '../helpers/cli.ts';
import { api, finished, inPhase, startDemoCycle, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

interface ErrorBody {
  error: { code: string; message: string; details: { path: (string | number)[]; message: string }[] };
}

const DEMO_PATCH = 'DEMO-APP-2.4.1';

/**
 * An asset's patch records as people read them: the history of every cycle × patch on it and its
 * compliance now, over REST and through the CLI, from a real cycle (ansible-playbook on the demo
 * fleet) and from rows recorded as the rollout records them where a real cycle would take too long
 * to reach the case (a retry, a rollback, a pending restart).
 */
describe('asset records: patch history and compliance', () => {
  let stack: TestStack;
  let demoCycle: string;
  const cli = (...args: string[]) =>
    runCli({ PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_DATA_DIR: stack.dataDir }, args);

  beforeAll(async () => {
    stack = await startStack({ env: { PATCHFLOW_APPROVAL_TIMEOUT: '2m' } });
    await upsertUser(stack.ctx.db, { id: 'victor', displayName: 'Victor (viewer)', roles: ['viewer'] });
    // The demo scan: Log4Shell (critical) and HTTP/2 Rapid Reset (high) on web-01, both in KEV and past CISA's due date.
    expect((await api(stack, 'POST', '/api/demo/seed')).status).toBe(200);
  });
  afterAll(async () => stack?.stop());

  it('before any cycle: open findings by severity, overdue against their deadlines, and no history', async () => {
    const { status, body } = await api<AssetDetail>(stack, 'GET', '/api/assets/web-01', undefined, 'victor');
    expect(status).toBe(200);
    expect(body).toMatchObject({ hostname: 'web-01', criticality: 3, exposure: 'internet' });
    const c = body.compliance;
    expect(c.openFindings).toEqual({ total: 2, critical: 1, high: 1, medium: 0, low: 0, info: 0 });
    expect(c.overdue).toBe(2);
    expect(Date.parse(c.earliestDueAt!)).toBeLessThan(Date.now());
    // The scanner named the OS; what it maps to decides which patches apply.
    expect(c.product.osName).toBe('Linux Kernel 5.15 on Debian 12');
    expect(c.product.status).toBe(c.product.key ? 'mapped' : 'unmapped');
    expect(c).toMatchObject({ lastPatched: null, lastVerified: null, rebootPending: false, rebootPendingSince: null });
    expect(Date.parse(c.lastSeen!)).toBeGreaterThan(Date.now() - 10 * 60_000);

    const history = await api<AssetHistory>(stack, 'GET', '/api/assets/web-01/history', undefined, 'victor');
    expect(history.body).toEqual({
      asset: { id: body.id, hostname: 'web-01' },
      total: 0,
      limit: 50,
      offset: 0,
      entries: [],
    });
  });

  it('a real cycle: the install and its deployer-reported verification are recorded, and compliance follows', async () => {
    demoCycle = await startDemoCycle(stack, { hosts: ['staging-01', 'web-01'] });
    await waitForCycle(stack, demoCycle, inPhase('approval'), 120_000);
    expect((await api(stack, 'POST', `/api/cycles/${demoCycle}/approve`, {}, 'alice')).status).toBe(200);
    const done = await waitForCycle(stack, demoCycle, finished, 120_000);
    expect(done.cycle.status).toBe('completed');

    const { body: history } = await api<AssetHistory>(stack, 'GET', '/api/assets/WEB-01/history');
    expect(history.total).toBe(1);
    const entry = history.entries[0]!;
    expect(entry).toMatchObject({
      patch: { id: DEMO_PATCH, title: 'demo-app 2.4.1 security update' },
      cycle: { id: demoCycle, name: done.cycle.name, status: 'completed' },
      ring: 'pilot',
      outcome: 'patched',
      attempts: 1,
      rebootPending: false,
      rollback: null,
      verification: { method: 'deployer', result: 'compliant', label: 'deployer-reported', compliant: true },
    });
    expect(entry.message).not.toBe('');
    // ansible-playbook's own account of the run is kept with the attempt.
    expect(entry.evidence).toHaveProperty('stats');
    expect(Date.parse(entry.installedAt!)).toBeLessThanOrEqual(Date.parse(entry.verification!.at));
    expect(entry.at).toBe(entry.installedAt);

    const { body: detail } = await api<AssetDetail>(stack, 'GET', '/api/assets/web-01');
    const c = detail.compliance;
    expect(c.lastPatched).toEqual({ at: entry.installedAt, cycleId: demoCycle, patchId: DEMO_PATCH });
    expect(c.lastVerified).toEqual({
      at: entry.verification!.at,
      cycleId: demoCycle,
      patchId: DEMO_PATCH,
      method: 'deployer',
      result: 'compliant',
      label: 'deployer-reported',
    });
    // The patch fixes Rapid Reset, which the verification closed on the deployer's word; Log4Shell stays open and overdue.
    expect(c.openFindings).toMatchObject({ total: 1, critical: 1, high: 0 });
    expect(c.overdue).toBe(1);
    expect(c.rebootPending).toBe(false);

    // As a user runs it: a readable summary, and the same records as JSON.
    const shown = await cli('assets', 'show', 'web-01');
    expect(shown.status, shown.stderr).toBe(0);
    const lines = shown.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^web-01 \\(${detail.id}\\): tier 3, internet, linux; product `));
    expect(shown.stdout).toMatch(/^ {2}open findings {3}1 \(1 critical\); overdue 1; earliest due \d{4}-\d\d-\d\d$/m);
    expect(shown.stdout).toMatch(new RegExp(`^ {2}last patched {4}\\S+ \\S+ ${DEMO_PATCH} in ${demoCycle}$`, 'm'));
    expect(shown.stdout).toMatch(
      new RegExp(
        `^ {2}last verified {3}\\S+ \\S+ compliant, deployer-reported \\(${DEMO_PATCH} in ${demoCycle}\\)$`,
        'm',
      ),
    );
    expect(shown.stdout).toMatch(/^ {2}reboot pending {2}no$/m);
    expect(shown.stdout).toContain('history, newest first (1–1 of 1):');
    expect(shown.stdout).toContain(`${DEMO_PATCH} "demo-app 2.4.1 security update"  cycle ${demoCycle}`);
    expect(shown.stdout).toMatch(/ patched after 1 attempt; verified compliant \(deployer-reported\) .*; installed /);

    const json = await cli('assets', 'show', detail.id, '--json');
    expect(json.status, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as AssetDetail & { history: AssetHistory };
    expect(parsed).toMatchObject({ id: detail.id, hostname: 'web-01', compliance: c });
    expect(parsed.history).toEqual(history);
  });

  it('recorded attempts: the successful one decides, a rollback undoes, a pending restart and a backup show; newest first, paged', async () => {
    const db = stack.ctx.db;
    const now = Date.now();
    const hoursAgo = (h: number) => new Date(now - h * 3_600_000).toISOString();
    const assetId = ((await db('assets').where({ hostname: 'app-01' }).first('id')) as { id: string }).id;
    await db('patches').insert([
      { id: 'KB5031364', title: '2023-10 Cumulative Update for Windows Server 2022', vendor_ref: 'KB5031364' },
      { id: 'KB5032198', title: '2023-11 Cumulative Update for Windows Server 2022', vendor_ref: 'KB5032198' },
    ]);
    const cycle = async (id: string, createdHoursAgo: number, status = 'completed') => {
      await db('cycles').insert({
        id,
        name: `records ${id}`,
        status,
        phase: 'done',
        requester: 'carol',
        request: { name: `records ${id}`, requester: 'carol', patchIds: [], hostnames: ['app-01'] },
        policy: {},
        workflow_id: `wf-${id}`,
        created_at: hoursAgo(createdHoursAgo),
        completed_at: hoursAgo(createdHoursAgo - 1),
      });
    };
    const target = (cycleId: string, patchId: string, status: string) =>
      db('cycle_targets').insert({
        cycle_id: cycleId,
        asset_id: assetId,
        patch_id: patchId,
        ring: 'broad',
        ring_order: 3,
        status,
      });
    const attempt = (
      cycleId: string,
      patchId: string,
      row: { phase?: string; attempt: number; outcome: string; message: string; at: number; evidence?: object },
    ) =>
      db('deployments').insert({
        cycle_id: cycleId,
        asset_id: assetId,
        patch_id: patchId,
        idempotency_key: idempotencyKey(cycleId, assetId, patchId),
        phase: row.phase ?? 'deployment',
        attempt: row.attempt,
        outcome: row.outcome,
        message: row.message,
        evidence: row.evidence ?? {},
        started_at: hoursAgo(row.at + 0.5),
        finished_at: hoursAgo(row.at),
      });

    // Ten days ago: the first attempt timed out, the retry installed and left a restart pending; verified before verifications kept a method.
    await cycle('cyc-rec-1', 241);
    await target('cyc-rec-1', 'KB5031364', 'patched');
    await attempt('cyc-rec-1', 'KB5031364', { attempt: 1, outcome: 'failed', message: 'install timed out', at: 240 });
    await attempt('cyc-rec-1', 'KB5031364', {
      attempt: 2,
      outcome: 'patched',
      message: 'installed KB5031364',
      at: 239,
      evidence: { rebootPending: true, backup: { reference: 'app-01:backups/cyc-rec-1' } },
    });
    await db('verifications').insert({
      cycle_id: 'cyc-rec-1',
      asset_id: assetId,
      patch_id: 'KB5031364',
      compliant: true,
      message: 'KB5031364 is installed',
      checked_at: hoursAgo(238),
    });
    // Five days ago: installed (WSUS says the restart is pending), then a retry found the success already recorded; a re-scan still saw the flaw.
    await cycle('cyc-rec-2', 121);
    await target('cyc-rec-2', 'KB5032198', 'patched');
    await attempt('cyc-rec-2', 'KB5032198', {
      attempt: 1,
      outcome: 'patched',
      message: 'installed KB5032198; restart pending',
      at: 120,
      evidence: { updates: ['1f3a…'] },
    });
    await attempt('cyc-rec-2', 'KB5032198', {
      attempt: 2,
      outcome: 'skipped',
      message: 'a success was already recorded for this host and patch',
      at: 119,
    });
    await db('verifications').insert({
      cycle_id: 'cyc-rec-2',
      asset_id: assetId,
      patch_id: 'KB5032198',
      compliant: false,
      method: 'scan',
      result: 'still_vulnerable',
      message: 'the re-scan still reports 1 finding(s) KB5032198 should fix',
      evidence: { scan: 'nessus-scan-42', stillVulnerable: [7] },
      checked_at: hoursAgo(118),
    });
    // Two days ago: installed again in a later cycle, then the ring was rolled back.
    await cycle('cyc-rec-3', 49);
    await target('cyc-rec-3', 'KB5031364', 'rolled_back');
    await attempt('cyc-rec-3', 'KB5031364', { attempt: 1, outcome: 'patched', message: 'installed KB5031364', at: 48 });
    await attempt('cyc-rec-3', 'KB5031364', {
      phase: 'rollback',
      attempt: 1,
      outcome: 'patched',
      message: 'uninstalled KB5031364',
      at: 47,
    });
    // Yesterday: a cycle rejected at its approval gate; nothing was attempted.
    await cycle('cyc-rec-4', 24, 'rejected');
    await target('cyc-rec-4', 'KB5032198', 'pending');

    const { status, body } = await api<AssetHistory>(stack, 'GET', '/api/assets/app-01/history', undefined, 'victor');
    expect(status).toBe(200);
    expect(body.total).toBe(4);
    expect(body.entries.map((e) => [e.cycle.id, e.patch.id, e.outcome])).toEqual([
      ['cyc-rec-4', 'KB5032198', 'pending'],
      ['cyc-rec-3', 'KB5031364', 'rolled_back'],
      ['cyc-rec-2', 'KB5032198', 'patched'],
      ['cyc-rec-1', 'KB5031364', 'patched'],
    ]);
    const [rejected, rolledBack, retried, first] = body.entries as [
      AssetHistory['entries'][number],
      AssetHistory['entries'][number],
      AssetHistory['entries'][number],
      AssetHistory['entries'][number],
    ];
    expect(rejected).toMatchObject({
      cycle: { status: 'rejected' },
      attempts: 0,
      installedAt: null,
      verification: null,
      // Never attempted: it stands where its cycle was created.
      at: hoursAgo(24),
    });
    expect(rolledBack).toMatchObject({
      attempts: 1,
      at: hoursAgo(47),
      rebootPending: false,
      message: 'installed KB5031364',
      rollback: { succeeded: true, at: hoursAgo(47), message: 'uninstalled KB5031364' },
    });
    // The successful attempt decides, not the retry after it that found the success recorded.
    expect(retried).toMatchObject({
      attempts: 2,
      installedAt: hoursAgo(120),
      // Ordered by its last attempt, the retry.
      at: hoursAgo(119),
      message: 'installed KB5032198; restart pending',
      rebootPending: true,
      backupReference: null,
      evidence: { updates: ['1f3a…'] },
      verification: {
        method: 'scan',
        result: 'still_vulnerable',
        label: 're-scan',
        compliant: false,
        evidence: { scan: 'nessus-scan-42' },
      },
    });
    expect(first).toMatchObject({
      attempts: 2,
      installedAt: hoursAgo(239),
      outcome: 'patched',
      message: 'installed KB5031364',
      rebootPending: true,
      backupReference: 'app-01:backups/cyc-rec-1',
      // Recorded before verifications named a method: the deployer's word, compliant or not.
      verification: {
        method: 'deployer',
        result: 'compliant',
        label: 'deployer-reported',
        message: 'KB5031364 is installed',
      },
    });

    const page = await api<AssetHistory>(stack, 'GET', '/api/assets/app-01/history?limit=2&offset=1');
    expect(page.body).toMatchObject({ total: 4, limit: 2, offset: 1 });
    expect(page.body.entries).toEqual([rolledBack, retried]);

    // The rollback's word clears the restart the first install left pending; KB5032198's restart is still owed.
    const { body: detail } = await api<AssetDetail>(stack, 'GET', '/api/assets/app-01');
    expect(detail.compliance).toMatchObject({
      rebootPending: true,
      rebootPendingSince: {
        at: hoursAgo(120),
        cycleId: 'cyc-rec-2',
        patchId: 'KB5032198',
        message: 'installed KB5032198; restart pending',
      },
      // The later install was rolled back, so the last install that stands is KB5032198's.
      lastPatched: { at: hoursAgo(120), cycleId: 'cyc-rec-2', patchId: 'KB5032198' },
      lastVerified: {
        at: hoursAgo(118),
        cycleId: 'cyc-rec-2',
        patchId: 'KB5032198',
        method: 'scan',
        result: 'still_vulnerable',
        label: 're-scan',
      },
    });

    const shown = await cli('assets', 'show', 'app-01', '--limit', '2', '--offset', '1');
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(
      /^ {2}reboot pending {2}yes, since \S+ \S+ \(KB5032198 in cyc-rec-2: installed KB5032198; restart pending\)$/m,
    );
    expect(shown.stdout).toContain('history, newest first (2–3 of 4):');
    expect(shown.stdout).toMatch(
      /^ {6}rolled_back after 1 attempt; not verified; installed \S+ \S+; rollback done \S+ \S+$/m,
    );
    expect(shown.stdout).toMatch(
      /^ {6}patched after 2 attempts; verified still_vulnerable \(re-scan\) \S+ \S+; installed \S+ \S+; reboot pending$/m,
    );
    expect(shown.stdout).not.toContain('cyc-rec-4');
  });

  it('an unknown asset is a 404 that names it; a bad page is a 400 naming the field', async () => {
    for (const path of ['/api/assets/nope-01', '/api/assets/nope-01/history']) {
      const res = await api<ErrorBody>(stack, 'GET', path);
      expect(res.status, path).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'not_found', message: 'no asset "nope-01"' });
    }
    const unknown = await cli('assets', 'show', 'nope-01');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('patchflow assets show: no asset "nope-01"\n');

    const bad = async (query: string) =>
      (await api<ErrorBody>(stack, 'GET', `/api/assets/web-01/history?${query}`)) as {
        status: number;
        body: ErrorBody;
      };
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=ten', 'limit'],
      ['limit=2.5', 'limit'],
      ['offset=-1', 'offset'],
    ] as const) {
      const res = await bad(query);
      expect(res.status, query).toBe(400);
      expect(
        res.body.error.details.map((d) => d.path),
        query,
      ).toEqual([[field]]);
    }
    const stray = await bad('page=2');
    expect(stray.status).toBe(400);
    expect(stray.body.error.message).toMatch(/Unrecognized key: "page"/);

    const badCli = await cli('assets', 'show', 'web-01', '--limit', '0');
    expect(badCli.status).toBe(2);
    expect(badCli.stderr).toMatch(/^ {2}limit: /m);
  });

  it('a credential without the read scope is refused, and the refusal audited; a viewer may read', async () => {
    const made = await api<{ token: string }>(
      stack,
      'POST',
      '/api/tokens',
      { name: 'approvals-only', scopes: ['approve'] },
      'alice',
    );
    expect(made.status).toBe(201);
    for (const path of ['/api/assets/web-01', '/api/assets/web-01/history']) {
      const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${made.body.token}` } });
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as ErrorBody).error.message).toBe(
        'alice may not read the inventory with this credential: it lacks the read scope (has approve)',
      );
    }
    const refusals = await stack.ctx.db('audit_events').where({ actor: 'alice', action: 'inventory.read.refused' });
    expect(refusals).toHaveLength(2);

    const withToken = await runCli(
      { PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_TOKEN: made.body.token },
      ['assets', 'show', 'web-01'],
    );
    expect(withToken.status).toBe(1);
    expect(withToken.stderr).toMatch(/alice may not read the inventory with this credential: it lacks the read scope/);

    const viewer = await cli('assets', 'show', 'web-01', '--as', 'victor', '--json');
    expect(viewer.status, viewer.stderr).toBe(0);
    expect((JSON.parse(viewer.stdout) as AssetDetail).hostname).toBe('web-01');
  });
});
