import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveApprovalState } from '../../db/repositories/changes.ts';
import type { ApprovalState } from '../../workflows/approval-types.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const cycleId = 'cyc-20261123-0a0b0c';
const state = (over: Partial<ApprovalState>): ApprovalState => ({
  cycleId,
  requester: 'carol',
  approvers: ['alice', 'bob'],
  quorum: 1,
  decisions: [],
  outcome: 'pending',
  remindersSent: 0,
  ...over,
});
const aliceApproves = {
  by: 'alice',
  decision: 'approve' as const,
  channel: 'teams' as const,
  at: '2026-11-23T12:00:00.000Z',
};

/** The refresh after a change opens and a decision's own refresh can finish in either order; the stored state must not go back. */
describe('saveApprovalState keeps the newest state', () => {
  let t: TestDatabase;
  const stored = async () =>
    ((await t.db('change_requests').where({ cycle_id: cycleId }).first()) as { state: ApprovalState }).state;
  beforeAll(async () => {
    t = await createTestDatabase();
    await t.db('cycles').insert({
      id: cycleId,
      name: 'race',
      requester: 'carol',
      request: { name: 'race', requester: 'carol', patchIds: [], hostnames: [] },
      policy: {},
      workflow_id: `patch-cycle-${cycleId}`,
      status: 'awaiting_approval',
      phase: 'approval',
    });
    await t.db('change_requests').insert({ cycle_id: cycleId, emergency: false, request: {}, pools: {} });
  });
  afterAll(async () => t?.drop());

  it('does not let an older state (fewer decisions, or pending after an outcome) land last', async () => {
    await saveApprovalState(t.db, state({}));
    await saveApprovalState(t.db, state({ decisions: [aliceApproves], outcome: 'approved' }));
    await saveApprovalState(t.db, state({ remindersSent: 1 }));
    expect(await stored()).toMatchObject({ decisions: [aliceApproves], outcome: 'approved' });
  });

  it('still takes newer news with the same decisions: reminders, escalation', async () => {
    await t.db('change_requests').where({ cycle_id: cycleId }).update({ state: null });
    await saveApprovalState(t.db, state({}));
    await saveApprovalState(t.db, state({ remindersSent: 2, escalated: true }));
    expect(await stored()).toMatchObject({ remindersSent: 2, escalated: true, outcome: 'pending' });
  });
});
