import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

/**
 * The audit trail: append-only (a trigger refuses UPDATE/DELETE/TRUNCATE) and tamper-evident
 * (each row's hash covers its content and the previous row's hash, so editing or removing a
 * row — even with the trigger dropped — breaks `verifyAuditChain`).
 */
export interface AuditEntry {
  actor: string;
  action: string;
  subjectType: string;
  subjectId: string;
  data?: Record<string, unknown>;
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
  const last = await trx('audit_events').select('hash').orderBy('seq', 'desc').first<{ hash: string } | undefined>();
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
  const byHash = new Map(inserted.map((r) => [r.hash, r]));
  return rows.map((r) => byHash.get(r.hash)!);
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

export interface ChainVerification {
  ok: boolean;
  events: number;
  /** The first row whose hash or link does not match, when the chain is broken. */
  brokenAt?: number;
  reason?: string;
}

export async function verifyAuditChain(db: Knex): Promise<ChainVerification> {
  const rows = (await db('audit_events').select('*').orderBy('seq', 'asc')) as AuditRow[];
  let prev = GENESIS;
  for (const row of rows) {
    if (row.prev_hash !== prev)
      return {
        ok: false,
        events: rows.length,
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
      return {
        ok: false,
        events: rows.length,
        brokenAt: row.seq,
        reason: 'content does not match its hash (the event was edited)',
      };
    prev = row.hash;
  }
  return { ok: true, events: rows.length };
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
