import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import {
  appendAudit,
  checkpointAudit,
  type AuditCheckpoint,
  type ChainVerification,
} from '../../db/repositories/audit.ts';
import { getCycle, type CycleDetail } from '../../db/repositories/cycles.ts';
import { runCli } from '../helpers/cli.ts';
import { withDatabase } from '../helpers/global-setup.ts';
import { api, startStack, type TestStack } from '../helpers/stack.ts';

const asJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * The four ways to rewrite the audit trail, done as a superuser would (the trust-auth postgres
 * user, who can switch the append-only triggers off), each caught by GET /api/audit/verify and by
 * `patchflow audit verify` as a user runs it.
 */
describe('audit verify catches an edit, a removal from the middle, a cut tail and a truncate', () => {
  let stack: TestStack;
  /** The chain before tampering: 250 events (checkpoints at 100 and 200) and a cycle's end checkpoint. */
  let cycleEnd: AuditCheckpoint;

  const cli = (...args: string[]) =>
    runCli({ PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_DATA_DIR: stack.dataDir }, [
      'audit',
      'verify',
      ...args,
    ]);
  const verify = async () => {
    const res = await api<ChainVerification>(stack, 'GET', '/api/audit/verify');
    expect(res.status).toBe(200);
    return res.body;
  };
  /** Runs `sql` as the superuser, with every trigger of audit_events off. */
  const asSuperuser = async (sql: string) => {
    const admin = new pg.Client({ connectionString: withDatabase(inject('pgAdminUrl'), stack.database.name) });
    await admin.connect();
    try {
      await admin.query('alter table audit_events disable trigger all');
      await admin.query(sql);
      await admin.query('alter table audit_events enable trigger all');
    } finally {
      await admin.end();
    }
  };
  const seqs = async () =>
    ((await stack.ctx.db('audit_events').orderBy('seq').select('seq')) as { seq: number }[]).map((r) => r.seq);
  const shown = (c: AuditCheckpoint) =>
    `checkpoint ${c.seq} of ${new Date(c.at).toISOString()} (${c.reason}: event ${c.head_seq}, hash ${c.head_hash.slice(0, 12)}…, ${c.events} events)`;

  beforeEach(async () => {
    stack = await startStack({ worker: false });
    // In one transaction, one after the other: the interval checkpoints fall on events 100 and 200 exactly.
    await stack.ctx.db.transaction(async (trx) => {
      for (let i = 0; i < 250; i++)
        await appendAudit(trx, { actor: 'alice', action: 'change.approved', subjectType: 'cycle', subjectId: `c${i}` });
    });
    // As the REST answer carries it (times as ISO strings).
    cycleEnd = asJson(await checkpointAudit(stack.ctx.db, 'cycle c-tail completed'));
  });
  afterEach(async () => stack?.stop());

  it('verifies an untampered chain, reaching the newest checkpoint; interval checkpoints were written on the way', async () => {
    const all = (await stack.ctx.db('audit_checkpoints').orderBy('seq')) as AuditCheckpoint[];
    expect(all.map((c) => [c.reason, c.head_seq, c.events])).toEqual([
      ['every 100 events', 100, 100],
      ['every 100 events', 200, 200],
      ['cycle c-tail completed', cycleEnd.head_seq, cycleEnd.events],
    ]);
    const present = await seqs();
    // Events the stack itself audits as it starts come after ours; the cycle's end names the head as it stood.
    expect(cycleEnd).toMatchObject({ head_seq: present.at(-1), events: present.length });

    const v = await verify();
    expect(v).toEqual({ ok: true, events: present.length, reached: cycleEnd });
    const run = await cli();
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      `audit trail intact: ${present.length} events; last checkpoint reached: ${shown(cycleEnd)}\n`,
    );
  });

  it('edit a row: names the first broken row as edited, and every checkpoint is still reached', async () => {
    const edited = (await seqs())[120]!;
    await asSuperuser(`update audit_events set data = '{"reason":"approved by CAB"}' where seq = ${edited}`);

    const v = await verify();
    expect(v).toMatchObject({
      ok: false,
      brokenAt: edited,
      reason: 'content does not match its hash (the event was edited)',
      reached: cycleEnd,
    });
    expect(v.unreachable).toBeUndefined();
    const run = await cli();
    expect(run.status).toBe(1);
    expect(run.stdout.split('\n')[0]).toBe(
      `AUDIT TRAIL BROKEN at event ${edited}: content does not match its hash (the event was edited)`,
    );
    expect(run.stdout).not.toMatch(/INCOMPLETE/);
  });

  it('delete from the middle: names the row after the gap, and the checkpoints past it counted one event more', async () => {
    const present = await seqs();
    const removed = present[150]!;
    await asSuperuser(`delete from audit_events where seq = ${removed}`);

    const v = await verify();
    expect(v).toMatchObject({
      ok: false,
      events: present.length - 1,
      brokenAt: present[151],
      reason: 'link to the previous event does not match (an event was removed or reordered)',
    });
    expect(v.unreachable).toEqual({
      checkpoint: cycleEnd,
      reason: `the chain holds ${present.length - 1} events up to event ${cycleEnd.head_seq}, where it held ${cycleEnd.events}`,
      checkpoints: 2,
    });
    // The checkpoint at 100 lies before the gap and still holds.
    expect(v.reached).toMatchObject({ reason: 'every 100 events', events: 100 });
    const run = await cli();
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(
      `AUDIT TRAIL BROKEN at event ${present[151]}: link to the previous event does not match (an event was removed or reordered)\n`,
    );
  });

  it('delete the tail: the chain still links up, but names the newest checkpoint it no longer reaches — even after new appends', async () => {
    const present = await seqs();
    const cutFrom = present[230]!;
    await asSuperuser(`delete from audit_events where seq >= ${cutFrom}`);
    // The application goes on appending onto what is left: the links hold, the checkpoint's event does not come back.
    await appendAudit(stack.ctx.db, { actor: 'bob', action: 'cycle.started', subjectType: 'cycle', subjectId: 'c9' });

    const v = await verify();
    expect(v.brokenAt).toBeUndefined();
    expect(v).toMatchObject({
      ok: false,
      events: 231,
      unreachable: { checkpoint: cycleEnd, reason: `its event ${cycleEnd.head_seq} is gone`, checkpoints: 1 },
      reached: { reason: 'every 100 events', events: 200 },
    });
    const run = await cli();
    expect(run.status).toBe(1);
    expect(run.stdout).toBe(
      [
        `AUDIT TRAIL INCOMPLETE: ${shown(cycleEnd)} is no longer reached: its event ${cycleEnd.head_seq} is gone`,
        `231 events present; last checkpoint reached: ${shown(v.reached!)}`,
        '',
      ].join('\n'),
    );
    const json = await cli('--json');
    expect(JSON.parse(json.stdout)).toEqual(v);
  });

  it('truncate: no event is left, and every checkpoint is unreached, the newest named', async () => {
    await asSuperuser('truncate audit_events');

    const v = await verify();
    expect(v).toEqual({
      ok: false,
      events: 0,
      unreachable: { checkpoint: cycleEnd, reason: `its event ${cycleEnd.head_seq} is gone`, checkpoints: 3 },
    });
    const run = await cli();
    expect(run.status).toBe(1);
    expect(run.stdout).toBe(
      [
        `AUDIT TRAIL INCOMPLETE: ${shown(cycleEnd)} is no longer reached: its event ${cycleEnd.head_seq} is gone (3 checkpoints unreached in all)`,
        '0 events present; no checkpoint reached',
        '',
      ].join('\n'),
    );
  });

  it('the application cannot rewrite or remove checkpoints: the database refuses', async () => {
    const { db } = stack.ctx;
    await expect(db('audit_checkpoints').del()).rejects.toThrow(/audit_checkpoints is append-only \(DELETE refused\)/);
    await expect(db('audit_checkpoints').update({ events: 0 })).rejects.toThrow(
      /audit_checkpoints is append-only \(UPDATE refused\)/,
    );
    await expect(db.raw('truncate audit_checkpoints')).rejects.toThrow(
      /audit_checkpoints is append-only \(TRUNCATE refused\)/,
    );
    expect(await db('audit_checkpoints').count<{ count: number }[]>('* as count')).toEqual([{ count: 3 }]);
  });

  it('a cycle’s end checkpoints the head, its own end event included, and the cycle’s result carries it', async () => {
    // A cycle on record (no worker runs it: the activity that ends it is driven here).
    const started = await api<CycleDetail>(stack, 'POST', '/api/cycles', { demo: true }, 'carol');
    expect(started.status).toBe(201);
    const { id } = started.body.cycle;
    const { workflow_id: workflowId } = await getCycle(stack.ctx.db, id);
    await stack.ctx.temporal.workflow.getHandle(workflowId).terminate('driven by the test');
    const acts = createActivities({
      db: stack.ctx.db,
      registry: stack.ctx.registry,
      logger: stack.ctx.logger,
      deployerId: 'simulator',
    });
    await new MockActivityEnvironment().run(acts.setCycleState, {
      cycleId: id,
      phase: 'done' as const,
      status: 'completed' as const,
      summary: { patched: 3 },
      note: 'cycle completed',
    });

    const newest = (await stack.ctx.db('audit_checkpoints').orderBy('seq', 'desc').first()) as AuditCheckpoint;
    const endEvent = (await stack.ctx
      .db('audit_events')
      .where({ subject_id: id, action: 'cycle.done' })
      .first('seq', 'hash')) as { seq: number; hash: string };
    expect(newest).toMatchObject({ reason: `cycle ${id} completed`, head_seq: endEvent.seq, head_hash: endEvent.hash });
    const detail = (await api<CycleDetail>(stack, 'GET', `/api/cycles/${id}`)).body;
    expect(detail.cycle.summary).toEqual({ patched: 3, auditHead: asJson(newest) });
    expect(await verify()).toMatchObject({ ok: true, reached: asJson(newest) });
  });
});
