import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PATCH } from '../../demo/seed.ts';
import type { CycleDetail } from '../../db/repositories/cycles.ts';
import { upsertUser, type Role } from '../../db/repositories/users.ts';
import { SlackDriver, TeamsDriver, type ChatDriver, type Person } from '../helpers/chat-drivers.ts';
import { api, finished, inPhase, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const person = (id: string, displayName: string, n: number): Person => ({
  id,
  displayName,
  slackUserId: `U${id.toUpperCase().padEnd(8, '0')}`,
  teamsAadId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
});
const people = {
  carol: person('carol', 'Carol', 1),
  erin: person('erin', 'Erin', 2),
  alice: person('alice', 'Alice', 3),
  bob: person('bob', 'Bob', 4),
  maria: person('maria', 'Maria', 5),
  victor: person('victor', 'Victor', 6),
  dave: person('dave', 'Dave', 7),
};
const roles: Record<keyof typeof people, { roles: Role[]; groups?: string[] }> = {
  carol: { roles: ['coordinator'] },
  erin: { roles: ['coordinator', 'approver'] },
  alice: { roles: ['approver'] },
  bob: { roles: ['approver'] },
  maria: { roles: ['manager'] },
  victor: { roles: ['viewer'] },
  dave: { roles: ['approver'], groups: ['emergency'] },
};
const cycleIn = (text: string) => /cyc-\d{8}-[0-9a-f]{6}/.exec(text)![0];

/** Erin (coordinator and approver) requests these cycles over REST; every decision then happens in chat. */
async function requestChange(stack: TestStack, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api<CycleDetail>(
    stack,
    'POST',
    '/api/cycles',
    { patches: [DEMO_PATCH.id], hosts: ['staging-01', 'web-01'], ...extra },
    'erin',
  );
  if (res.status !== 201) throw new Error(`cycle start failed: ${JSON.stringify(res.body)}`);
  await waitForCycle(stack, res.body.cycle.id, inPhase('approval'));
  return res.body.cycle.id;
}

interface Scenario {
  name: string;
  run(chat: ChatDriver, stack: TestStack): Promise<void>;
}

/** The same approval scenarios, run as they are against Slack and against Teams. */
const scenarios: Scenario[] = [
  {
    name: 'quorum met: two distinct approvers approve',
    async run(chat, stack) {
      const id = await requestChange(stack, { policy: { approval: { quorum: 2 } } });
      await chat.card(id, (c) => c.includes('Awaiting CAB approval: 0 of 2 approvals'));
      expect(await chat.approve(people.alice, id)).toBeNull();
      await chat.card(
        id,
        (c) => c.includes('Awaiting CAB approval: 1 of 2 approvals') && c.includes(`Alice approved via ${chat.name}`),
      );
      expect(await chat.approve(people.alice, id)).toBe('alice has already decided on this change');
      expect(await chat.approve(people.bob, id)).toBeNull();
      await chat.card(id, (c) => c.includes(`Bob approved via ${chat.name}`) && !c.includes('Awaiting CAB approval'));
      await waitForCycle(stack, id, (d) => d.cycle.phase !== 'approval');
    },
  },
  {
    name: 'rejection with a reason',
    async run(chat, stack) {
      const id = await requestChange(stack);
      expect(await chat.reject(people.bob, id, 'no tested rollback for web-01')).toBeNull();
      await chat.card(
        id,
        (c) => c.includes(`Bob rejected via ${chat.name}`) && c.includes('no tested rollback for web-01'),
      );
      const done = await waitForCycle(stack, id, finished);
      expect(done.cycle.status).toBe('rejected');
      expect(done.approvals).toEqual([
        expect.objectContaining({
          by: 'bob',
          decision: 'reject',
          reason: 'no tested rollback for web-01',
          channel: chat.name,
        }),
      ]);
    },
  },
  {
    name: 'self-approval refused (separation of duties)',
    async run(chat, stack) {
      const id = await requestChange(stack);
      expect(await chat.approve(people.erin, id)).toBe(
        'separation of duties: erin requested this change and cannot approve or reject it',
      );
      const refusal = await stack.ctx
        .db('audit_events')
        .where({ subject_id: id, actor: 'erin', action: 'change.approve.refused' })
        .first();
      expect(refusal).toBeDefined();
      await chat.card(id, (c) => c.includes('Awaiting CAB approval: 0 of 1 approvals'));
    },
  },
  {
    name: 'non-approvers refused: a manager before escalation, a viewer by role',
    async run(chat, stack) {
      const id = await requestChange(stack);
      expect(await chat.approve(people.maria, id)).toMatch(
        /^maria is not an approver for this change \(approvers: alice, bob, dave\)/,
      );
      expect(await chat.approve(people.victor, id)).toBe(
        'victor may not decide on changes: needs the approver or manager role (has viewer)',
      );
      const refused = (
        (await stack.ctx.db('audit_events').where({ subject_id: id }).where('action', 'like', '%.refused')) as {
          actor: string;
        }[]
      ).map((e) => e.actor);
      expect(refused.sort()).toEqual(['maria', 'victor']);
    },
  },
  {
    name: 'reminder, then escalation to the managers, then fail-closed expiry',
    async run(chat, stack) {
      const id = await requestChange(stack, {
        policy: { approval: { remindEvery: '3s', escalateAfter: '7s', timeout: '12s' } },
      });
      const reminder = await chat.notice((t) => t.includes(`reminder: change ${id}`));
      expect(reminder).toContain(chat.name === 'slack' ? `<@${people.alice.slackUserId}>` : '<at>Alice</at>');
      const escalation = await chat.notice((t) => t.includes(`escalation: change ${id}`));
      expect(escalation).toContain(chat.name === 'slack' ? `<@${people.maria.slackUserId}>` : '<at>Maria</at>');
      await chat.card(id, (c) => c.includes('escalated'));
      const done = await waitForCycle(stack, id, finished, 30_000);
      expect(done.cycle.status).toBe('expired');
      await chat.card(id, (c) => c.includes('Expired: no decision before the deadline (failed closed)'));
    },
  },
  {
    name: 'emergency path: a KEV on an internet-facing tier-1 asset needs one emergency approver',
    async run(chat, stack) {
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
      await stack.ctx.db('assets').where({ hostname: 'web-01' }).update({ exposure: 'internet', criticality: 1 });
      try {
        const id = await requestChange(stack, { policy: { approval: { quorum: 2 } } });
        await chat.card(id, (c) =>
          c.includes('Emergency change: known-exploited CVE-2024-38094 on internet-facing tier-1 web-01'),
        );
        expect(await chat.approve(people.alice, id)).toMatch(
          /^alice is not an approver for this emergency change \(emergency approvers: dave\)/,
        );
        expect(await chat.approve(people.dave, id)).toBeNull();
        await chat.card(id, (c) => c.includes(`Dave approved via ${chat.name}`));
        await expect
          .poll(
            async () =>
              (await stack.ctx.db('audit_events').where({ subject_id: id, action: 'change.emergency_review_required' }))
                .length,
            { timeout: 10_000 },
          )
          .toBe(1);
      } finally {
        await stack.ctx.db('assets').where({ hostname: 'web-01' }).update({ exposure: 'internet', criticality: 3 });
        await stack.ctx.db('patch_cves').where({ cve_id: 'CVE-2024-38094' }).del();
      }
    },
  },
  {
    name: 'approve now, run in the window: the card says when deployment starts',
    async run(chat, stack) {
      const start = new Date(Date.now() + 60_000);
      const window = { start: start.toISOString(), end: new Date(start.getTime() + 3_600_000).toISOString() };
      const id = await requestChange(stack, { window });
      await chat.card(id, (c) => c.includes(start.toISOString().slice(0, 16).replace('T', ' ')));
      expect(await chat.approve(people.alice, id)).toBeNull();
      await chat.card(id, (c) =>
        c.includes(`Approved; deployment starts at ${start.toISOString().slice(0, 16).replace('T', ' ')} UTC`),
      );
      const scheduled = await waitForCycle(stack, id, (d) => d.cycle.status === 'scheduled');
      expect(scheduled.rings.find((r) => r.ring !== 'staging')?.hosts.every((h) => h.status === 'pending')).toBe(true);
      // The coordinator calls it off before the window opens.
      expect(await chat.command(people.carol, `cancel ${id} window moved`)).toBe(
        `${id} cancelling: no further ring will start`,
      );
      expect((await waitForCycle(stack, id, finished)).cycle.status).toBe('cancelled');
    },
  },
  {
    name: 'a chat that hangs holds up neither the decision nor the database',
    async run(chat, stack) {
      const id = await requestChange(stack);
      await chat.card(id, (c) => c.includes('Awaiting CAB approval'));
      const release = chat.hang();
      try {
        const res = await api<{ outcome: string }>(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice');
        expect(res.status).toBe(200);
        expect(res.body.outcome).toBe('approved');
        expect(await stack.ctx.db('approvals').where({ cycle_id: id }).select('decided_by')).toEqual([
          { decided_by: 'alice' },
        ]);
        // The gate's card refresh is now waiting on the chat, and no connection waits with it in a transaction.
        await expect.poll(() => chat.heldRequests, { timeout: 30_000 }).toBeGreaterThan(0);
        const inTransaction = await stack.ctx.db.raw<{ rows: unknown[] }>(
          `select pid from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`,
        );
        expect(inTransaction.rows).toEqual([]);
      } finally {
        release();
      }
      await chat.card(id, (c) => c.includes('Alice approved via'));
      await waitForCycle(stack, id, finished);
    },
  },
];

describe.each([new SlackDriver(), new TeamsDriver()])('$name', (chat) => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ env: await chat.start() });
    chat.connect(stack);
    for (const [key, p] of Object.entries(people)) {
      await upsertUser(stack.ctx.db, {
        id: p.id,
        displayName: p.displayName,
        slackUserId: p.slackUserId,
        teamsAadId: p.teamsAadId,
        ...roles[key as keyof typeof people],
      });
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await chat.close();
  });

  it.each(scenarios)('$name', (s) => s.run(chat, stack), 90_000);

  it('a coordinator starts, follows, pauses and resumes a cycle entirely from chat', async () => {
    const started = await chat.command(people.carol, 'start demo');
    const id = cycleIn(started);
    expect(started).toMatch(/^started cyc-\d{8}-[0-9a-f]{6} \(Demo patch cycle\)/);
    await chat.card(id, (c) => c.includes('Awaiting CAB approval'), 60_000);
    // Earlier scenarios leave changes waiting; this one is among them.
    expect(await chat.command(people.carol, 'approvals')).toMatch(/^\d+ change\(s\) waiting for the CAB$/);
    expect(await chat.approve(people.alice, id)).toBeNull();

    // Follow it: status from chat until the rollout is under way, then hold it between rings.
    const deadline = Date.now() + 30_000;
    let status = '';
    while (!/phase deployment/.test(status) && Date.now() < deadline)
      status = await chat.command(people.carol, `status ${id}`);
    expect(status).toMatch(/phase deployment/);
    expect(await chat.command(people.carol, `pause ${id} waiting for the storefront team`)).toBe(
      `${id} paused: the rollout holds before its next ring`,
    );
    await chat.card(id, (c) => c.includes('Paused'));
    // A batch already under way finishes; the hold starts before the next one, and is recorded when it does.
    await expect
      .poll(
        async () =>
          (
            await stack.ctx
              .db('audit_events')
              .where({ subject_id: id })
              .whereRaw(`data->>'note' like 'holding before the next ring%'`)
          ).length,
        { timeout: 60_000 },
      )
      .toBeGreaterThan(0);
    const touched = (d: CycleDetail) => d.rings.flatMap((r) => r.hosts).filter((h) => h.status !== 'pending').length;
    const held = (await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`)).body;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const stillHeld = (await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`)).body;
    expect(stillHeld.cycle.status).toBe('paused');
    expect(touched(stillHeld)).toBe(touched(held));
    expect(await chat.command(people.alice, `resume ${id}`)).toBe(
      'alice may not resume a patch cycle: needs the coordinator role (has approver)',
    );

    expect(await chat.command(people.carol, `resume ${id}`)).toBe(`${id} resumed`);
    const done = await waitForCycle(stack, id, finished, 90_000);
    expect(done.cycle.status).toBe('completed');
    const final = await chat.card(id, (c) => c.includes('Completed'));
    for (const ring of done.rings)
      expect(final).toContain(`${ring.ring}: ${ring.hosts.length}/${ring.hosts.length} done`);
    const actions = (
      (await stack.ctx.db('audit_events').where({ subject_id: id }).orderBy('seq')) as {
        actor: string;
        action: string;
      }[]
    ).map((e) => `${e.actor} ${e.action}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'carol cycle.requested',
        'alice change.approved',
        'carol cycle.paused',
        'carol cycle.resumed',
      ]),
    );
  }, 180_000);
});
