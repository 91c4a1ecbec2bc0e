import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, verifyAuditChain } from '../../db/repositories/audit.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('audit trail', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.drop());

  it('chains events and detects an edited event even when the trigger is bypassed', async () => {
    await appendAudit(t.db, {
      actor: 'alice',
      action: 'cycle.approved',
      subjectType: 'cycle',
      subjectId: 'c1',
      data: { z: 1, a: [1, 2] },
    });
    await appendAudit(t.db, { actor: 'bob', action: 'cycle.started', subjectType: 'cycle', subjectId: 'c2' });
    await appendAudit(t.db, {
      actor: 'carol',
      action: 'cycle.rejected',
      subjectType: 'cycle',
      subjectId: 'c3',
      data: { reason: 'no rollback plan' },
    });
    expect(await verifyAuditChain(t.db)).toEqual({ ok: true, events: 3 });

    await expect(t.db('audit_events').update({ actor: 'mallory' }).where({ seq: 2 })).rejects.toThrow(/append-only/);
    await expect(t.db('audit_events').del()).rejects.toThrow(/append-only/);

    // An administrator with table-owner rights can disable the trigger; the hash chain still tells.
    await t.db.raw('alter table audit_events disable trigger audit_events_no_update');
    await t
      .db('audit_events')
      .update({ data: { reason: 'approved by CAB' } })
      .where({ actor: 'carol' });
    const verdict = await verifyAuditChain(t.db);
    expect(verdict.ok).toBe(false);
    expect(verdict.reason).toMatch(/edited/);
  });
});

describe('audit appends made at the same time', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.drop());

  it('chains them in the order they were made, each caller getting its own committed row', async () => {
    const actors = Array.from({ length: 30 }, (_, i) => `approver${i}`);
    const rows = await Promise.all(
      actors.map((actor, i) =>
        appendAudit(t.db, { actor, action: 'change.approved', subjectType: 'cycle', subjectId: `c${i}` }),
      ),
    );
    expect(rows.map((r) => r.actor)).toEqual(actors);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((r) => r.seq).sort((a, b) => a - b));
    expect(await verifyAuditChain(t.db)).toEqual({ ok: true, events: 30 });
  });

  it('fails only the entry the database refuses, not those written in the same batch', async () => {
    // jsonb refuses a NUL character: the second and third appends queue behind the first and share a batch.
    const appends = ['first', 'refused', 'third'].map((actor) =>
      appendAudit(t.db, {
        actor,
        action: 'chat.refused',
        subjectType: 'chat',
        subjectId: 'slack',
        data: actor === 'refused' ? { text: 'nul \u0000' } : {},
      }),
    );
    expect((await Promise.allSettled(appends)).map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await verifyAuditChain(t.db)).toEqual({ ok: true, events: 32 });
  });
});
