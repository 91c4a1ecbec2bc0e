import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cyclePolicySchema } from '../../app/cycle-policy.ts';
import { insertCycle, scopeCycle, setCycleState } from '../../db/repositories/cycles.ts';
import { upsertUser } from '../../db/repositories/users.ts';
import { DEMO_PATCH } from '../../demo/seed.ts';
import { approvalWorkflow } from '../../workflows/approval.ts';
import { approvalStatusQuery, approveChangeUpdate } from '../../workflows/messages.ts';
import { approvalWorkflowId, cycleWorkflowId } from '../../workflows/ids.ts';
import type { ApprovalResult, ApprovalState } from '../../workflows/approval-types.ts';
import type { CycleDetail } from '../../db/repositories/cycles.ts';
import { loadChangeView } from '../../db/repositories/changes.ts';
import { buildChangeCard } from '../../integrations/kit/chat/card.ts';
import { buildChangeRecordView } from '../../integrations/kit/itsm/change-record.ts';
import { renderCycle } from '../../bin/commands/cycles.ts';
import { api, finished, inPhase, startDemoCycle, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

type ErrorBody = { error: { message: string; details: { path: (string | number)[]; message: string }[] } };
let serial = 0;

/**
 * The CAB gate on its own, on the real dev server: a cycle row in phase approval and the
 * approval workflow started directly, so each scenario costs no staging run.
 */
async function openApproval(
  stack: TestStack,
  opts: {
    policy?: Record<string, unknown>;
    author?: string;
    window?: { start: string; end: string };
  } = {},
) {
  serial += 1;
  const cycleId = `cyc-20261123-${String(serial).padStart(6, '0')}`;
  const policy = cyclePolicySchema.parse({
    approval: { timeout: '2m', remindEvery: '1m', ...opts.policy },
    deployment: {},
  });
  const request = {
    name: `approval scenario ${serial}`,
    requester: 'carol',
    patchIds: [DEMO_PATCH.id],
    hostnames: [],
    ...(opts.author ? { author: opts.author } : {}),
    ...(opts.window ? { window: opts.window } : {}),
  };
  await insertCycle(stack.ctx.db, { id: cycleId, request, policy, workflowId: cycleWorkflowId(cycleId) });
  await scopeCycle(stack.ctx.db, cycleId);
  await setCycleState(stack.ctx.db, cycleId, { phase: 'approval', status: 'awaiting_approval' });
  const handle = await stack.ctx.temporal.workflow.start(approvalWorkflow, {
    taskQueue: stack.ctx.settings.temporal.taskQueue,
    workflowId: approvalWorkflowId(cycleId),
    args: [
      {
        cycleId,
        requester: 'carol',
        approvers: [],
        policy: policy.approval,
        timeouts: stack.ctx.settings.temporal.timeouts,
      },
    ],
  });
  // Open means the gate itself holds its pool, a moment after the change request row is written;
  // Updates sent straight to the handle before that are refused as not ready. Generous: on a busy
  // machine gathering the change request can take seconds.
  await expect
    .poll(async () => (await handle.query(approvalStatusQuery)).approvers.length > 0, {
      timeout: 30_000,
      interval: 100,
    })
    .toBe(true);
  return { cycleId, handle, result: () => handle.result() as Promise<ApprovalResult> };
}

const approve = (stack: TestStack, id: string, by: string, extra: Record<string, unknown> = {}) =>
  api<ApprovalState & ErrorBody>(stack, 'POST', `/api/cycles/${id}/approve`, extra, by);
const reject = (stack: TestStack, id: string, by: string, reason?: string) =>
  api<ApprovalState & ErrorBody>(stack, 'POST', `/api/cycles/${id}/reject`, reason ? { reason } : {}, by);
const auditActions = async (stack: TestStack, id: string) =>
  (await stack.ctx.db('audit_events').where({ subject_id: id }).orderBy('seq')) as {
    action: string;
    actor: string;
    data: Record<string, unknown>;
  }[];

describe('approval model on the real dev server', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack();
    await upsertUser(stack.ctx.db, {
      id: 'dave',
      displayName: 'Dave (on-call security)',
      roles: ['approver'],
      groups: ['emergency'],
    });
    await upsertUser(stack.ctx.db, { id: 'erin', displayName: 'Erin (change author)', roles: ['approver'] });
    await upsertUser(stack.ctx.db, { id: 'victor', displayName: 'Victor (viewer)', roles: ['viewer'] });
  });
  afterAll(async () => stack?.stop());

  it('needs a quorum of distinct approvers: one approval of two leaves it pending, a second vote by the same person is refused', async () => {
    const gate = await openApproval(stack, { policy: { quorum: 2 } });
    const first = await approve(stack, gate.cycleId, 'alice', { comment: 'staging looks clean' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ outcome: 'pending', quorum: 2, approvers: ['alice', 'bob', 'dave', 'erin'] });

    const again = await approve(stack, gate.cycleId, 'alice');
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe('alice has already decided on this change');

    const second = await approve(stack, gate.cycleId, 'bob');
    expect(second.body.outcome).toBe('approved');
    const result = await gate.result();
    expect(result).toMatchObject({ outcome: 'approved', emergency: false });
    expect(result.decisions.map((d) => d.by)).toEqual(['alice', 'bob']);
  });

  it('two approvals from one person sent together count once: quorum 2 is not met by dave twice', async () => {
    // Sent together, both may pass their validators in one activation; the step that records says no to one.
    const gate = await openApproval(stack, { policy: { quorum: 2 } });
    const args = { by: 'dave', channel: 'rest' } as const;
    const sent = await Promise.allSettled([
      gate.handle.executeUpdate(approveChangeUpdate, { args: [args], updateId: 'dave-first' }),
      gate.handle.executeUpdate(approveChangeUpdate, { args: [args], updateId: 'dave-second' }),
    ]);
    expect(sent.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
    const refused = sent.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    expect((refused.reason as Error).cause).toMatchObject({ message: 'dave has already decided on this change' });
    const state = await gate.handle.query(approvalStatusQuery);
    expect(state).toMatchObject({ outcome: 'pending', quorum: 2 });
    expect(state.decisions.map((d) => d.by)).toEqual(['dave']);
  });

  it('two approval requests from one person at once: one counts, the other is refused', async () => {
    const gate = await openApproval(stack, { policy: { quorum: 2 } });
    const [one, two] = await Promise.all([
      approve(stack, gate.cycleId, 'alice'),
      approve(stack, gate.cycleId, 'alice'),
    ]);
    expect([one.status, two.status].sort()).toEqual([200, 409]);
    const state = await gate.handle.query(approvalStatusQuery);
    expect(state.decisions.map((d) => d.by)).toEqual(['alice']);
  });

  it('rejects with a reason, and refuses a rejection without one', async () => {
    const gate = await openApproval(stack);
    const bare = await reject(stack, gate.cycleId, 'bob');
    expect(bare.status).toBe(400);
    expect(bare.body.error.message).toMatch(/^invalid rejection: reason/);

    const rejected = await reject(stack, gate.cycleId, 'bob', 'no rollback tested for db-01');
    expect(rejected.status).toBe(200);
    expect(rejected.body.outcome).toBe('rejected');
    expect(await gate.result()).toMatchObject({
      outcome: 'rejected',
      decisions: [expect.objectContaining({ by: 'bob', decision: 'reject', reason: 'no rollback tested for db-01' })],
    });
    expect(await auditActions(stack, gate.cycleId)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          action: 'change.rejected',
          actor: 'bob',
          data: expect.objectContaining({ reason: 'no rollback tested for db-01' }),
        }),
      ]),
    );
  });

  it('refuses the requester and the author of the change (separation of duties), and audits each refusal', async () => {
    const gate = await openApproval(stack, { author: 'erin' });
    const self = await approve(stack, gate.cycleId, 'carol');
    expect(self.status).toBe(403);
    expect(self.body.error.message).toBe(
      'separation of duties: carol requested this change and cannot approve or reject it',
    );
    const author = await reject(stack, gate.cycleId, 'erin', 'looks fine to me');
    expect(author.status).toBe(403);
    expect(author.body.error.message).toBe(
      'separation of duties: erin authored this change and cannot approve or reject it',
    );
    const refusals = (await auditActions(stack, gate.cycleId)).filter((e) => e.action.endsWith('.refused'));
    expect(refusals.map((e) => [e.actor, e.action])).toEqual([
      ['carol', 'change.approve.refused'],
      ['erin', 'change.reject.refused'],
    ]);
  });

  it('refuses people outside the approver pool with the pool in the message', async () => {
    const gate = await openApproval(stack);
    const manager = await approve(stack, gate.cycleId, 'maria');
    expect(manager.status).toBe(403);
    expect(manager.body.error.message).toMatch(
      /^maria is not an approver for this change \(approvers: alice, bob, dave, erin\); as an escalation approver maria may decide from /,
    );
    const viewer = await approve(stack, gate.cycleId, 'victor');
    expect(viewer.status).toBe(403);
    // A viewer is refused before the gate is asked: the role check is authorize's, and it is audited.
    expect(viewer.body.error.message).toBe(
      'victor may not decide on changes: needs the approver or manager role (has viewer)',
    );
    expect(await auditActions(stack, gate.cycleId)).toContainEqual(
      expect.objectContaining({ action: 'change.approve.refused', actor: 'victor' }),
    );
  });

  it('reminds, escalates to the managers, who may then decide, and fails closed at the deadline', async () => {
    const gate = await openApproval(stack, {
      policy: { quorum: 2, remindEvery: '2s', escalateAfter: '5s', timeout: '10s' },
    });
    const early = await approve(stack, gate.cycleId, 'maria');
    expect(early.status).toBe(403);
    expect(early.body.error.message).toMatch(/as an escalation approver maria may decide from /);

    await expect
      .poll(async () => (await auditActions(stack, gate.cycleId)).some((e) => e.action === 'change.escalated'), {
        timeout: 15_000,
        interval: 250,
      })
      .toBe(true);
    const escalated = await approve(stack, gate.cycleId, 'maria', { comment: 'approved on escalation' });
    expect(escalated.status).toBe(200);
    expect(escalated.body).toMatchObject({ outcome: 'pending', escalated: true });

    const result = await gate.result();
    expect(result.outcome).toBe('expired');
    expect(result.decisions.map((d) => d.by)).toEqual(['maria']);
    const actions = (await auditActions(stack, gate.cycleId)).map((e) => e.action);
    expect(actions.filter((a) => a === 'change.reminder').length).toBeGreaterThanOrEqual(2);
    expect(actions.indexOf('change.reminder')).toBeLessThan(actions.indexOf('change.escalated'));
    expect(actions.at(-1)).toBe('change.expired');
    const escalation = (await auditActions(stack, gate.cycleId)).find((e) => e.action === 'change.escalated');
    expect(escalation?.data).toMatchObject({ to: ['maria'], pending: ['alice', 'bob', 'dave', 'erin', 'maria'] });
    const late = await approve(stack, gate.cycleId, 'alice');
    expect(late.status).toBe(409);
  });

  it('stops reminding after maxReminders, and still fails closed at the deadline', async () => {
    const gate = await openApproval(stack, {
      policy: { remindEvery: '1s', maxReminders: 2, escalateAfter: '1h', timeout: '6s' },
    });
    expect((await gate.result()).outcome).toBe('expired');
    const actions = (await auditActions(stack, gate.cycleId)).map((e) => e.action);
    expect(actions.filter((a) => a === 'change.reminder')).toHaveLength(2);
    expect(actions.at(-1)).toBe('change.expired');
  });

  it('takes the emergency path for a KEV on an internet-facing tier-1 asset: one emergency approver, review flagged', async () => {
    await stack.ctx
      .db('cves')
      .insert({ id: 'CVE-2024-38094', kev: true, kev_due_date: '2024-11-12', cvss_v3_score: 7.2, epss: 0.94 })
      .onConflict('id')
      .ignore();
    await stack.ctx
      .db('patch_cves')
      .insert({ patch_id: DEMO_PATCH.id, cve_id: 'CVE-2024-38094' })
      .onConflict(['patch_id', 'cve_id'])
      .ignore();
    await stack.ctx.db('assets').where({ hostname: 'db-01' }).update({ exposure: 'internet' });
    try {
      const gate = await openApproval(stack, { policy: { quorum: 2 } });
      const change = (await stack.ctx.db('change_requests').where({ cycle_id: gate.cycleId }).first()) as {
        emergency: boolean;
        request: { risk: { kevCount: number; exposedCritical: string[] } };
      };
      expect(change.emergency).toBe(true);
      expect(change.request.risk).toMatchObject({ kevCount: 1, exposedCritical: ['db-01'] });

      const cab = await approve(stack, gate.cycleId, 'alice');
      expect(cab.status).toBe(403);
      expect(cab.body.error.message).toBe(
        'alice is not an approver for this emergency change (emergency approvers: dave); known-exploited CVE-2024-38094 on internet-facing tier-1 db-01',
      );
      const oncall = await approve(stack, gate.cycleId, 'dave', { comment: 'exploited in the wild' });
      expect(oncall.body).toMatchObject({ outcome: 'approved', mode: 'emergency', quorum: 1 });
      expect(await gate.result()).toMatchObject({ outcome: 'approved', emergency: true });
      const review = (await auditActions(stack, gate.cycleId)).find(
        (e) => e.action === 'change.emergency_review_required',
      );
      expect(review?.data).toMatchObject({ approvedBy: ['dave'] });
    } finally {
      await stack.ctx.db('assets').where({ hostname: 'db-01' }).update({ exposure: 'internal' });
      await stack.ctx.db('patch_cves').where({ cve_id: 'CVE-2024-38094' }).del();
    }
  });

  it('approve now, run in the window: the approval is recorded at once and deployment waits for the window', async () => {
    const start = new Date(Date.now() + 18_000);
    const window = { start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString() };
    const id = await startDemoCycle(stack, { window });
    await waitForCycle(stack, id, inPhase('approval'));
    const approved = await approve(stack, id, 'alice', { comment: 'ok for tonight' });
    expect(approved.body).toMatchObject({ outcome: 'approved', notBefore: window.start });

    const scheduled = await waitForCycle(stack, id, (d) => d.cycle.status === 'scheduled');
    expect(scheduled.approvals).toEqual([expect.objectContaining({ by: 'alice', decision: 'approve' })]);
    expect(readFileSync(path.join(stack.fleet.hostRoot('web-01'), 'app', 'VERSION'), 'utf8').trim()).toBe('2.4.0');

    const done: CycleDetail = await waitForCycle(stack, id, finished, 90_000);
    expect(done.cycle.status).toBe('completed');
    const deployment = (await stack.ctx
      .db('audit_events')
      .where({ subject_id: id, action: 'cycle.deployment' })
      .orderBy('seq')
      .first()) as { at: Date };
    expect(new Date(deployment.at).getTime()).toBeGreaterThanOrEqual(start.getTime());
  });

  it('refuses an approval whose not-before falls outside the maintenance window', async () => {
    const start = new Date(Date.now() + 60_000);
    const window = { start: start.toISOString(), end: new Date(start.getTime() + 60_000).toISOString() };
    const gate = await openApproval(stack, { window });
    const late = await approve(stack, gate.cycleId, 'alice', {
      notBefore: new Date(start.getTime() + 120_000).toISOString(),
    });
    expect(late.status).toBe(400);
    expect(late.body.error.message).toMatch(/is not before the maintenance window ends/);
  });

  it('lets a coordinator tighten the policy but not loosen it: the refusal names each field, the card shows the change', async () => {
    const cycles = async () => Number((await stack.ctx.db('cycles').count({ n: '*' }))[0]!.n);
    const before = await cycles();
    const loose = await api<ErrorBody>(
      stack,
      'POST',
      '/api/cycles',
      { demo: true, policy: { approval: { quorum: 2 }, deployment: { maxFailedPercent: 50, backup: false } } },
      'carol',
    );
    expect(loose.status).toBe(403);
    expect(loose.body.error.details).toEqual([
      { path: ['policy', 'deployment', 'maxFailedPercent'], message: 'loosens the configured 20 to 50' },
      { path: ['policy', 'deployment', 'backup'], message: 'loosens the configured true to false' },
    ]);
    expect(await cycles()).toBe(before);
    const refused = await stack.ctx.db('audit_events').where({ action: 'cycle.start.refused', actor: 'carol' });
    expect(refused.at(-1).data.reason).toMatch(
      /deployment.maxFailedPercent 20 → 50, deployment.backup true → false loosens it/,
    );

    const id = await startDemoCycle(stack, { policy: { approval: { quorum: 2, timeout: '1h' } } });
    await waitForCycle(stack, id, inPhase('approval'));
    await expect
      .poll(async () => (await stack.ctx.db('change_requests').where({ cycle_id: id }).first()) !== undefined, {
        timeout: 30_000,
        interval: 100,
      })
      .toBe(true);
    const tightened = ['approval.quorum 1 → 2 (tightens)', 'approval.timeout 72h → 1h (tightens)'];
    const view = await loadChangeView(stack.ctx.db, id);
    const card = buildChangeCard(view, new Map());
    expect(card.facts.find((f) => f.label === 'Policy')?.value).toBe(
      `quorum 2, fails closed after 1h; halts a ring above 20% failed; backup on; rolls back the failed ring; soak 0s with health check. Differs from the configured policy: ${tightened.join('; ')}`,
    );
    const record = buildChangeRecordView(view, view.change!, card);
    for (const line of tightened)
      expect(record.content.implementationPlan).toContain(`Differs from the configured policy: ${line}.`);
    const detail = await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`);
    expect(renderCycle(detail.body)).toContain(`    differs from the configured policy: ${tightened[0]}`);
    await api(stack, 'POST', `/api/cycles/${id}/cancel`, { reason: 'test done' }, 'carol');
  });

  it('lets an admin loosen the policy for one cycle, audited as a policy change', async () => {
    const id = await startDemoCycle(stack, { policy: { deployment: { maxFailedPercent: 40 } } }, 'admin');
    const [loosened] = await stack.ctx.db('audit_events').where({ subject_id: id, action: 'policy.loosened' });
    expect(loosened).toMatchObject({ actor: 'admin', data: { changes: ['deployment.maxFailedPercent 20 → 40'] } });
    await api(stack, 'POST', `/api/cycles/${id}/cancel`, { reason: 'test done' }, 'admin');
  });

  it('checks the pool at decision time: an approver whose role is taken away is refused and stops counting', async () => {
    await upsertUser(stack.ctx.db, { id: 'frank', displayName: 'Frank (leaving)', roles: ['approver'] });
    const gate = await openApproval(stack, { policy: { quorum: 2 } });
    expect((await approve(stack, gate.cycleId, 'frank')).body.outcome).toBe('pending');
    // Frank moves to another team before the change is decided; an admin takes his approver role.
    expect((await api(stack, 'PUT', '/api/users/frank', { roles: ['viewer'] })).status).toBe(200);

    const second = await approve(stack, gate.cycleId, 'alice');
    expect(second.body).toMatchObject({ outcome: 'pending' });
    expect(second.body.decisions.map((d) => d.by)).toEqual(['frank', 'alice']);
    const third = await approve(stack, gate.cycleId, 'bob');
    expect(third.body.outcome).toBe('approved');
    expect((await gate.result()).decisions.map((d) => d.by)).toEqual(['frank', 'alice', 'bob']);
    expect((await approve(stack, gate.cycleId, 'frank')).status).toBe(403);

    // Taken out of the CAB group but still an approver elsewhere: the gate itself refuses.
    await upsertUser(stack.ctx.db, { id: 'gwen', displayName: 'Gwen', roles: ['approver'], groups: ['night-cab'] });
    const night = await openApproval(stack, { policy: { approverGroups: ['night-cab'] } });
    await upsertUser(stack.ctx.db, { id: 'gwen', displayName: 'Gwen', roles: ['approver'], groups: [] });
    const late = await approve(stack, night.cycleId, 'gwen');
    expect(late.status).toBe(403);
    expect(late.body.error.message).toBe(
      'gwen no longer holds the approver role or group this change was put to (removed since it was opened)',
    );
    await night.handle.cancel();
  });

  it('lets the requester (or a coordinator) withdraw a change awaiting approval; nothing is deployed', async () => {
    const id = await startDemoCycle(stack);
    await waitForCycle(stack, id, inPhase('approval'));
    const byApprover = await api<ErrorBody>(stack, 'POST', `/api/cycles/${id}/withdraw`, {}, 'alice');
    expect(byApprover.status).toBe(403);
    expect(byApprover.body.error.message).toBe(
      "alice may not withdraw someone else's change: needs the coordinator role (has approver)",
    );
    const withdrawn = await api<ApprovalState>(
      stack,
      'POST',
      `/api/cycles/${id}/withdraw`,
      { reason: 'the vendor pulled the patch' },
      'carol',
    );
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body.outcome).toBe('withdrawn');
    const done = await waitForCycle(stack, id, finished);
    expect(done.cycle).toMatchObject({
      status: 'cancelled',
      summary: expect.objectContaining({ reason: 'withdrawn by carol: the vendor pulled the patch' }),
    });
    // Only the staging test ran; no ring was deployed.
    expect(
      new Set((await stack.ctx.db('deployments').where({ cycle_id: id })).map((d: { phase: string }) => d.phase)),
    ).toEqual(new Set(['testing']));
    expect((await auditActions(stack, id)).map((e) => e.action)).toContain('change.withdrawn');
    const again = await api<ErrorBody>(stack, 'POST', `/api/cycles/${id}/withdraw`, {}, 'carol');
    expect(again.status).toBe(409);
  });
});
