import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CycleDetail } from '../../db/repositories/cycles.ts';
import { verifyAuditChain } from '../../db/repositories/audit.ts';
import { api, finished, inPhase, startDemoCycle, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const versionOf = (s: TestStack, host: string) =>
  readFileSync(path.join(s.fleet.hostRoot(host), 'app', 'VERSION'), 'utf8').trim();
const historyOf = (s: TestStack, host: string) => {
  try {
    return readFileSync(path.join(s.fleet.hostRoot(host), 'patch-history.log'), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
};
const hosts = (d: CycleDetail) => Object.fromEntries(d.rings.flatMap((r) => r.hosts.map((h) => [h.hostname, h])));

describe('patch cycle on the real dev server, Postgres and ansible-playbook', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ env: { PATCHFLOW_APPROVAL_TIMEOUT: '2m' } });
  });
  afterAll(async () => stack?.stop());

  it('tests on staging, waits for approval, deploys ring by ring and verifies every host', async () => {
    const id = await startDemoCycle(stack);
    const awaiting = await waitForCycle(stack, id, inPhase('approval'));
    expect(awaiting.cycle.status).toBe('awaiting_approval');
    // Staging was patched and checked before anyone was asked; production rings were not touched.
    expect(hosts(awaiting)['staging-01']?.status).toBe('patched');
    expect(versionOf(stack, 'web-01')).toBe('2.4.0');

    const approved = await api(
      stack,
      'POST',
      `/api/cycles/${id}/approve`,
      { comment: 'rollback plan reviewed' },
      'alice',
    );
    expect(approved.status).toBe(200);
    const done = await waitForCycle(stack, id, finished);

    expect(done.cycle.status).toBe('completed');
    expect(done.rings.map((r) => r.ring)).toEqual(
      ['staging', 'test', 'pilot', 'broad', 'critical'].filter((r) => done.rings.some((x) => x.ring === r)),
    );
    for (const h of ['staging-01', 'web-01', 'web-02', 'app-01', 'db-01']) {
      expect(hosts(done)[h]).toMatchObject({ status: 'patched', attempts: 1, verified: true });
      expect(versionOf(stack, h)).toBe('2.4.1');
      expect(historyOf(stack, h)).toHaveLength(1);
    }
    expect(done.approvals).toEqual([expect.objectContaining({ by: 'alice', decision: 'approve', channel: 'rest' })]);
    expect(done.cycle.summary).toMatchObject({ verification: { total: 5, compliant: 5, nonCompliant: 0 } });
    const actions = (
      (await stack.ctx.db('audit_events').where({ subject_id: id }).orderBy('seq')) as { action: string }[]
    ).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'cycle.requested',
        'cycle.scoped',
        'ring.tested',
        'change.approved',
        'ring.deployed',
        'cycle.verified',
        'cycle.done',
      ]),
    );
    expect((await verifyAuditChain(stack.ctx.db)).ok).toBe(true);
    // The review workflow opens the post-patch review with the cycle's facts.
    await expect
      .poll(async () => (await stack.ctx.db('reviews').where({ cycle_id: id }).first())?.status, { timeout: 10_000 })
      .toBe('collecting');
  });

  it('a second cycle finds the hosts already patched and changes nothing', async () => {
    const id = await startDemoCycle(stack);
    await waitForCycle(stack, id, inPhase('approval'));
    await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'bob');
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('completed');
    for (const h of ['web-01', 'db-01']) {
      expect(hosts(done)[h]?.status).toBe('already_compliant');
      expect(historyOf(stack, h)).toHaveLength(1);
    }
  });

  it('refuses self-approval, non-approvers and unknown users with a clear reason, and audits each refusal', async () => {
    const id = await startDemoCycle(stack);
    await waitForCycle(stack, id, inPhase('approval'));

    const self = await api<{ error: { message: string } }>(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'carol');
    expect(self.status).toBe(403);
    expect(self.body.error.message).toBe(
      'separation of duties: carol requested this change and cannot approve or reject it',
    );

    const manager = await api<{ error: { message: string } }>(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'maria');
    expect(manager.status).toBe(403);
    expect(manager.body.error.message).toMatch(/^maria is not an approver for this change \(approvers: alice, bob\)/);

    const stranger = await api<{ error: { message: string } }>(
      stack,
      'POST',
      `/api/cycles/${id}/approve`,
      { by: 'mallory' },
      null,
    );
    // Without a credential nobody gets past the door, whatever the body claims.
    expect(stranger.status).toBe(401);
    expect(stranger.body.error.message).toMatch(/sign in first/);

    const refusals = (await stack.ctx
      .db('audit_events')
      .where({ subject_id: id })
      .where('action', 'like', '%.refused')) as { actor: string }[];
    expect(refusals.map((r) => r.actor).sort()).toEqual(['carol', 'maria']);
    expect(await stack.ctx.db('approvals').where({ cycle_id: id })).toHaveLength(0);

    // The gate is still open for a real approver, and a second vote by the same person is refused.
    expect(
      (await api(stack, 'POST', `/api/cycles/${id}/reject`, { reason: 'no rollback plan attached' }, 'alice')).status,
    ).toBe(200);
    const again = await api<{ error: { message: string } }>(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'bob');
    expect(again.status).toBe(409);
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('rejected');
    expect(done.approvals).toEqual([
      expect.objectContaining({ by: 'alice', decision: 'reject', reason: 'no rollback plan attached' }),
    ]);
  });

  it('a rejection needs a reason and leaves production untouched', async () => {
    const before = historyOf(stack, 'app-01').length;
    const id = await startDemoCycle(stack, { hosts: ['app-01'] });
    await waitForCycle(stack, id, inPhase('approval'));
    const noReason = await api<{ error: { details: { path: string[] }[] } }>(
      stack,
      'POST',
      `/api/cycles/${id}/reject`,
      { reason: '  ' },
      'bob',
    );
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.details[0]?.path).toEqual(['reason']);
    expect((await api(stack, 'POST', `/api/cycles/${id}/reject`, { reason: 'change freeze' }, 'bob')).status).toBe(200);
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('rejected');
    expect(hosts(done)['app-01']?.status).toBe('pending');
    expect(historyOf(stack, 'app-01')).toHaveLength(before);
  });
});

describe('approval timeout', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ env: { PATCHFLOW_APPROVAL_TIMEOUT: '4s', PATCHFLOW_APPROVAL_REMIND_EVERY: '1s' } });
  });
  afterAll(async () => stack?.stop());

  it('reminds the approvers, then fails closed: the cycle ends expired and nothing is deployed', async () => {
    const id = await startDemoCycle(stack, { hosts: ['staging-01', 'web-01'] });
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('expired');
    expect(hosts(done)['web-01']?.status).toBe('pending');
    expect(versionOf(stack, 'web-01')).toBe('2.4.0');
    const actions = (await stack.ctx.db('audit_events').where({ subject_id: id })) as {
      action: string;
      data: { pending?: string[] };
    }[];
    expect(actions.filter((a) => a.action === 'change.reminder').length).toBeGreaterThanOrEqual(2);
    expect(actions.find((a) => a.action === 'change.reminder')?.data.pending).toEqual(['alice', 'bob']);
    expect(actions.some((a) => a.action === 'change.expired')).toBe(true);
    // A late approval finds the gate closed.
    const late = await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice');
    expect(late.status).toBe(409);
  });
});

describe('failing hosts', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ failing: ['web-02'] });
  });
  afterAll(async () => stack?.stop());

  it('records a failing host and reports it; within the error threshold the rollout goes on', async () => {
    // A threshold above the configured 20 % loosens the policy: an admin's change, audited as one.
    const id = await startDemoCycle(stack, { policy: { deployment: { maxFailedPercent: 50 } } }, 'admin');
    await waitForCycle(stack, id, inPhase('approval'));
    await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice');
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('completed_with_failures');
    expect(hosts(done)['web-02']).toMatchObject({
      status: 'failed',
      message: expect.stringContaining('health check failed'),
    });
    expect(hosts(done)['db-01']?.status).toBe('patched');
    const failed = await stack.ctx.db('deployments').where({ cycle_id: id, outcome: 'failed' });
    expect(failed).toHaveLength(1);
  });

  it('halts the rollout when a ring exceeds the error threshold; later rings are not touched', async () => {
    // Fresh hosts for this cycle: reset the versions the previous test installed.
    const { writeFileSync } = await import('node:fs');
    for (const h of ['web-01', 'web-02', 'app-01', 'db-01'])
      writeFileSync(path.join(stack.fleet.hostRoot(h), 'app', 'VERSION'), '2.4.0\n');
    const id = await startDemoCycle(stack, {
      hosts: ['web-01', 'web-02', 'app-01', 'db-01'],
      policy: { deployment: { maxFailedPercent: 20 } },
    });
    await waitForCycle(stack, id, inPhase('approval'));
    await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'bob');
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle.status).toBe('halted');
    expect(done.cycle.summary['reason']).toMatch(
      /ring pilot: 1 of 2 hosts attempted failed \(2 in the ring\), over the 20% threshold/,
    );
    expect(hosts(done)['app-01']?.status).toBe('pending');
    expect(versionOf(stack, 'db-01')).toBe('2.4.0');
  });
});
