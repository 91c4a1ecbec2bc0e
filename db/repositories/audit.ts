import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { ConflictError } from '../../kernel/errors.ts';

/**
 * The audit trail: append-only (a trigger refuses UPDATE/DELETE/TRUNCATE) and tamper-evident
 * (each row's hash covers its content and the previous row's hash, so editing or removing a
 * row — even with the trigger dropped — breaks `verifyAuditChain`). Removing the newest rows
 * leaves a chain that still links up, so the head is checkpointed in audit_checkpoints (append-only
 * too) at every cycle's end and every CHECKPOINT_EVERY events; a checkpoint whose event is gone
 * shows the cut.
 */
export interface AuditEntry {
  actor: string;
  action: string;
  subjectType: string;
  subjectId: string;
  data?: Record<string, unknown>;
}

/** The chain's head as a checkpoint saw it. */
export interface AuditCheckpoint {
  seq: number;
  at: string;
  /** Why it was written: `cycle <id> <status>`, `every 100 events`, `migration`. */
  reason: string;
  head_seq: number;
  head_hash: string;
  /** Events in the chain up to and including the head. */
  events: number;
}

export interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject_type: string;
  subject_id: string;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);
/** Serialises appends so that two writers cannot both chain onto the same previous hash. */
const AUDIT_LOCK_KEY = 0x5041_5443; // "PATC"

/**
 * A checkpoint each time the chain's sequence passes a multiple of this, written in the append's
 * own transaction: one insert per this many events, and a cut longer than this is seen even when no
 * cycle ends. (The newest events after the last checkpoint are only covered once the next is written.)
 */
const CHECKPOINT_EVERY = 100;

/** Bounds one batch's insert statement; a longer queue is written by the batches that follow. */
const MAX_APPENDS_PER_BATCH = 200;

interface QueuedAppend {
  entry: AuditEntry;
  settle: (outcome: { row: AuditRow } | { err: unknown }) => void;
}

/**
 * Appends waiting for the chain, per database. The chain has one head, so appends are written
 * one after the other under the lock; rather than have concurrent writers queue on that lock a
 * transaction each (holding a pooled connection while they wait), appends that arrive while a
 * batch is being written are written together by the next batch: one lock, one read of the head,
 * one insert and one commit for all of them. Each caller still returns only once its row is committed.
 */
const appendQueues = new WeakMap<Knex, { queued: QueuedAppend[]; writing: boolean }>();

/** Appends `entry` to the chain; inside a transaction, as part of it. */
export async function appendAudit(db: Knex, entry: AuditEntry): Promise<AuditRow> {
  if (db.isTransaction) return (await appendChained(db as Knex.Transaction, [entry]))[0]!;
  const queue = appendQueues.get(db) ?? { queued: [], writing: false };
  appendQueues.set(db, queue);
  const outcome = new Promise<{ row: AuditRow } | { err: unknown }>((settle) => queue.queued.push({ entry, settle }));
  if (!queue.writing) void writeQueued(db, queue);
  const settled = await outcome;
  if ('err' in settled) throw settled.err;
  return settled.row;
}

async function writeQueued(db: Knex, queue: { queued: QueuedAppend[]; writing: boolean }): Promise<void> {
  const write = (batch: QueuedAppend[]) =>
    db.transaction((trx) =>
      appendChained(
        trx,
        batch.map((a) => a.entry),
      ),
    );
  queue.writing = true;
  try {
    while (queue.queued.length > 0) {
      const batch = queue.queued.splice(0, MAX_APPENDS_PER_BATCH);
      try {
        const rows = await write(batch);
        batch.forEach((a, i) => a.settle({ row: rows[i]! }));
      } catch (err) {
        if (batch.length === 1) batch[0]!.settle({ err });
        // One entry the database refuses must not fail the others with it: each is tried on its own.
        else {
          for (const append of batch) {
            await write([append]).then(
              ([row]) => append.settle({ row: row! }),
              (alone: unknown) => append.settle({ err: alone }),
            );
          }
        }
      }
    }
  } finally {
    queue.writing = false;
  }
}

/** Chains `entries`, in order, onto the head of the chain and returns their rows in the same order. */
async function appendChained(trx: Knex.Transaction, entries: AuditEntry[]): Promise<AuditRow[]> {
  await trx.raw('select pg_advisory_xact_lock(?)', [AUDIT_LOCK_KEY]);
  const last = await chainHead(trx);
  let prevHash = last?.hash ?? GENESIS;
  const at = new Date().toISOString();
  const rows = entries.map((entry) => {
    const data = entry.data ?? {};
    const hash = chainHash(prevHash, {
      at,
      actor: entry.actor,
      action: entry.action,
      subjectType: entry.subjectType,
      subjectId: entry.subjectId,
      data,
    });
    const row = {
      at,
      actor: entry.actor,
      action: entry.action,
      subject_type: entry.subjectType,
      subject_id: entry.subjectId,
      data,
      prev_hash: prevHash,
      hash,
    };
    prevHash = hash;
    return row;
  });
  // One multi-row insert takes its sequence numbers in the order of its rows, which is the chain's order.
  const inserted = (await trx('audit_events').insert(rows).returning('*')) as AuditRow[];
  const head = Math.max(...inserted.map((r) => r.seq));
  if (Math.floor(head / CHECKPOINT_EVERY) > Math.floor((last?.seq ?? 0) / CHECKPOINT_EVERY))
    await writeCheckpoint(trx, `every ${CHECKPOINT_EVERY} events`);
  const byHash = new Map(inserted.map((r) => [r.hash, r]));
  return rows.map((r) => byHash.get(r.hash)!);
}

async function chainHead(db: Knex): Promise<{ seq: number; hash: string } | undefined> {
  return db('audit_events').select('seq', 'hash').orderBy('seq', 'desc').first<{ seq: number; hash: string }>();
}

/**
 * Checkpoints the chain's head as it stands (after every append already committed or in the same
 * transaction) and returns the checkpoint: a cycle's end calls this, and its result carries it.
 */
export async function checkpointAudit(db: Knex, reason: string): Promise<AuditCheckpoint> {
  const write = async (trx: Knex.Transaction) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [AUDIT_LOCK_KEY]);
    return writeCheckpoint(trx, reason);
  };
  return db.isTransaction ? write(db as Knex.Transaction) : db.transaction(write);
}

/** Under the append lock: the head, and its count carried on from the previous checkpoint (no full count of the trail). */
async function writeCheckpoint(trx: Knex.Transaction, reason: string): Promise<AuditCheckpoint> {
  const head = await chainHead(trx);
  if (!head) throw new ConflictError('the audit trail is empty: there is no head to checkpoint');
  const previous = await trx('audit_checkpoints').orderBy('seq', 'desc').first<AuditCheckpoint | undefined>();
  const since = await trx('audit_events')
    .where('seq', '>', previous?.head_seq ?? 0)
    .count<{ count: number }>('* as count')
    .first();
  const [checkpoint] = (await trx('audit_checkpoints')
    .insert({
      reason,
      head_seq: head.seq,
      head_hash: head.hash,
      events: Number(previous?.events ?? 0) + Number(since!.count),
    })
    .returning('*')) as AuditCheckpoint[];
  return checkpoint!;
}

/** Whether the trail already holds an event by `actor` of `action` on the subject. */
export async function hasAudited(
  db: Knex,
  event: Pick<AuditEntry, 'actor' | 'action' | 'subjectType' | 'subjectId'>,
): Promise<boolean> {
  const row = await db('audit_events')
    .where({ actor: event.actor, action: event.action, subject_type: event.subjectType, subject_id: event.subjectId })
    .first('seq');
  return row !== undefined;
}

/**
 * What `audit verify` found. Two kinds of break, reported apart: a row whose hash or link does not
 * match (`brokenAt`: an event edited, or one removed from the middle), and a checkpoint the chain
 * no longer reaches (`unreachable`: the newest events deleted, or audit_events truncated, while the
 * checkpoints remain). What it cannot see: someone able to disable the triggers of both tables who
 * truncates (or cuts) both alike; only keeping the application's role to INSERT on both closes that.
 */
export interface ChainVerification {
  ok: boolean;
  events: number;
  /** The first row whose hash or link does not match, when the chain is broken. */
  brokenAt?: number;
  reason?: string;
  /** The newest checkpoint the chain still reaches: the trail is whole at least up to its event. */
  reached?: AuditCheckpoint;
  /** The newest checkpoint the chain no longer reaches, why, and how many checkpoints are unreached in all. */
  unreachable?: { checkpoint: AuditCheckpoint; reason: string; checkpoints: number };
}

export async function verifyAuditChain(db: Knex): Promise<ChainVerification> {
  const rows = (await db('audit_events').select('*').orderBy('seq', 'asc')) as AuditRow[];
  const checkpoints = (await db('audit_checkpoints').select('*').orderBy('seq', 'desc')) as AuditCheckpoint[];
  const broken = brokenRow(rows);
  // Where each event sits in the chain as it is now: its hash, and how many events lead up to it.
  // (Number(): PGlite may hand bigint columns back as strings.)
  const position = new Map(rows.map((r, i) => [Number(r.seq), { hash: r.hash, events: i + 1 }]));
  const unreached = checkpoints.flatMap((c) => {
    const at = position.get(Number(c.head_seq));
    const why = !at
      ? `its event ${c.head_seq} is gone`
      : at.hash !== c.head_hash
        ? `event ${c.head_seq} no longer has the hash it had then (the chain was rewritten up to it)`
        : at.events !== Number(c.events)
          ? `the chain holds ${at.events} events up to event ${c.head_seq}, where it held ${c.events}`
          : undefined;
    return why ? [{ checkpoint: c, reason: why }] : [];
  });
  const unreachedSeqs = new Set(unreached.map((u) => u.checkpoint.seq));
  const reached = checkpoints.find((c) => !unreachedSeqs.has(c.seq));
  return {
    ok: !broken && unreached.length === 0,
    events: rows.length,
    ...broken,
    ...(reached ? { reached } : {}),
    ...(unreached[0] ? { unreachable: { ...unreached[0], checkpoints: unreached.length } } : {}),
  };
}

/** The first row whose link or hash does not match, walking the chain from its start. */
function brokenRow(rows: AuditRow[]): { brokenAt: number; reason: string } | undefined {
  let prev = GENESIS;
  for (const row of rows) {
    if (row.prev_hash !== prev)
      return {
        brokenAt: row.seq,
        reason: 'link to the previous event does not match (an event was removed or reordered)',
      };
    const at = new Date(row.at).toISOString();
    const expected = chainHash(prev, {
      at,
      actor: row.actor,
      action: row.action,
      subjectType: row.subject_type,
      subjectId: row.subject_id,
      data: row.data,
    });
    if (expected !== row.hash)
      return { brokenAt: row.seq, reason: 'content does not match its hash (the event was edited)' };
    prev = row.hash;
  }
  return undefined;
}

export async function listAudit(db: Knex, filter: { subjectId?: string; limit?: number } = {}): Promise<AuditRow[]> {
  const q = db('audit_events')
    .select('*')
    .orderBy('seq', 'asc')
    .limit(filter.limit ?? 1000);
  if (filter.subjectId) q.where({ subject_id: filter.subjectId });
  return (await q) as AuditRow[];
}

function chainHash(prevHash: string, content: Record<string, unknown>): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson(content)).digest('hex');
}

/** JSON with object keys sorted, so that jsonb's reordering of keys does not change the hash. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
