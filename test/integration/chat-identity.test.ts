import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatActions } from '../../app/chat-actions.ts';
import { upsertUser } from '../../db/repositories/users.ts';
import { isReply, type ChatActions, type ChatActor } from '../../integrations/contract/chat.ts';
import { api, inPhase, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const slack = (externalId: string): ChatActor => ({ chat: 'slack', externalId });
const teams = (externalId: string): ChatActor => ({ chat: 'teams', externalId });

describe('chat identity and roles', () => {
  let stack: TestStack;
  let chat: ChatActions;
  beforeAll(async () => {
    stack = await startStack();
    chat = createChatActions(stack.ctx);
    await upsertUser(stack.ctx.db, {
      id: 'carol',
      displayName: 'Carol',
      roles: ['coordinator'],
      slackUserId: 'UCAROL001',
    });
    await upsertUser(stack.ctx.db, {
      id: 'alice',
      displayName: 'Alice',
      roles: ['approver'],
      slackUserId: 'UALICE001',
      teamsAadId: '7FAF8AB2-3D56-4244-B585-20C8A42ED2B8',
    });
    await upsertUser(stack.ctx.db, {
      id: 'victor',
      displayName: 'Victor',
      roles: ['viewer'],
      slackUserId: 'UVICTOR01',
    });
  });
  afterAll(async () => stack?.stop());

  it('refuses unknown chat users, tells them how to get mapped, and audits the refusal', async () => {
    const r = await chat.command(slack('UNOBODY01'), 'status');
    expect(r).toMatchObject({
      ok: false,
      text: expect.stringContaining('patchflow users add <your id> --role <role> --slack UNOBODY01'),
    });
    const t = await chat.approve(teams('00000000-0000-4000-8000-000000000000'), 'cyc-20261123-abcdef');
    expect(t).toMatchObject({
      ok: false,
      text: expect.stringContaining('--teams 00000000-0000-4000-8000-000000000000'),
    });
    const audit = (await stack.ctx.db('audit_events').where({ action: 'chat.refused' }).orderBy('seq')) as {
      actor: string;
    }[];
    expect(audit.map((e) => e.actor)).toEqual(['slack:UNOBODY01', 'teams:00000000-0000-4000-8000-000000000000']);
  });

  it('maps Teams object ids case-insensitively', async () => {
    const r = await chat.command(teams('7faf8ab2-3d56-4244-b585-20c8a42ed2b8'), 'approvals');
    expect(r).toMatchObject({ ok: true });
  });

  it('checks the role of every action: viewers read, coordinators run cycles, approvers decide', async () => {
    expect(await chat.command(slack('UVICTOR01'), 'status')).toMatchObject({ ok: true, text: 'no cycle is running' });
    expect(await chat.command(slack('UVICTOR01'), 'start demo')).toMatchObject({
      ok: false,
      text: 'victor may not start a patch cycle: needs the coordinator role (has viewer)',
    });
    expect(await chat.approve(slack('UCAROL001'), 'cyc-20261123-abcdef')).toMatchObject({
      ok: false,
      text: 'carol may not decide on changes: needs the approver or manager role (has coordinator)',
    });

    const started = await chat.command(slack('UCAROL001'), 'start demo');
    expect(started).toMatchObject({
      ok: true,
      text: expect.stringMatching(/^started cyc-\d{8}-[0-9a-f]{6} \(Demo patch cycle\)/),
    });
    const id = /cyc-\d{8}-[0-9a-f]{6}/.exec(started.text)![0];
    expect(await chat.command(slack('UALICE001'), `pause ${id}`)).toMatchObject({
      ok: false,
      text: 'alice may not pause a patch cycle: needs the coordinator role (has approver)',
    });
    await waitForCycle(stack, id, inPhase('approval'));
    expect(await chat.command(slack('UCAROL001'), `pause ${id}`)).toMatchObject({
      ok: false,
      text: expect.stringContaining('only an approved rollout can be paused'),
    });
    // The approval phase starts a moment before its change request is open: once alice may decide, victor still may not.
    await expect
      .poll(
        async () => {
          const aliceCard = await chat.card(slack('UALICE001'), id);
          return isReply(aliceCard) ? aliceCard.text : aliceCard.decidable;
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    const card = await chat.card(slack('UVICTOR01'), id);
    expect(isReply(card) ? card.text : card.decidable).toBe(false);
    expect(await chat.approve(slack('UALICE001'), id)).toMatchObject({
      ok: true,
      text: `Alice approved ${id}: approved`,
    });

    const refusals = (
      (await stack.ctx.db('audit_events').where('action', 'like', '%.refused').orderBy('seq')) as {
        actor: string;
        action: string;
      }[]
    ).map((e) => `${e.actor} ${e.action}`);
    expect(refusals).toEqual(
      expect.arrayContaining([
        'victor cycle.start.refused',
        'carol change.approve.refused',
        'alice cycle.pause.refused',
      ]),
    );
  });

  it('REST pause/resume/cancel check the coordinator role too', async () => {
    const r = await api<{ error: { message: string } }>(
      stack,
      'POST',
      '/api/cycles/cyc-20261123-abcdef/pause',
      {},
      'carol',
    );
    expect(r.status).toBe(404);
    const list = await api<{ cycles: { id: string }[] }>(stack, 'GET', '/api/cycles');
    const id = list.body.cycles[0]!.id;
    const byApprover = await api<{ error: { message: string } }>(stack, 'POST', `/api/cycles/${id}/pause`, {}, 'alice');
    expect(byApprover.status).toBe(403);
    expect(byApprover.body.error.message).toBe(
      'alice may not pause a patch cycle: needs the coordinator role (has approver)',
    );
  });
});
