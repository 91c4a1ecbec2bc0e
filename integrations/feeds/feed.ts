import type { z } from 'zod';
import type { FeedSyncState } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { FeedBatch } from './batch.ts';
import { conditionalGet, getBody, probe, type RetryPolicy } from './http.ts';

/** What a feed connector adds to its definition: reading a file someone downloaded, for air-gapped sites. */
export interface FeedFileImport {
  /** Parses one file as the source publishes it; throws an InputError naming what is wrong. */
  importFile(body: Buffer): FeedBatch;
}

export function canImportFiles(def: object): def is FeedFileImport {
  return 'importFile' in def && typeof def.importFile === 'function';
}

/** What every feed's sync returns; the AdvisoryFeed role with our richer batch. */
export interface FeedSyncResult {
  notModified: boolean;
  state: FeedSyncState;
  batch: FeedBatch;
  /** Documents the sync fetched but would not store (a CSAF document whose hash or signature fails), with why. */
  refused?: RefusedDocument[] | undefined;
}

export interface RefusedDocument {
  url: string;
  changedAt: string;
  reason: string;
}

/** The documents a sync refused; the AdvisoryFeed role's result type, which the registry hands out, does not name them. */
export function refusedDocuments(result: object): RefusedDocument[] {
  return 'refused' in result && Array.isArray(result.refused) ? (result.refused as RefusedDocument[]) : [];
}

/** What a document parser answers for a document it will not store: nothing of it reaches the batch. */
export interface DocumentRefusal {
  refused: string;
}

/**
 * A feed connector: the AdvisoryFeed role from its sync function, testConnection as one request to
 * the source, and file import for air-gapped sites.
 */
export function defineFeed<S extends z.ZodType>(spec: {
  id: string;
  title: string;
  configSchema: S;
  sync(config: z.output<S>, state: FeedSyncState, logger: Logger, signal?: AbortSignal): Promise<FeedSyncResult>;
  /** What testConnection requests (HEAD) to tell whether the source answers. */
  probe(config: z.output<S>): { url: string; headers?: Record<string, string> };
  importFile(body: Buffer): FeedBatch;
}) {
  const connector = defineConnector({
    id: spec.id,
    title: spec.title,
    configSchema: spec.configSchema,
    capabilities: { feed: true },
    create: (config, deps) => ({
      feed: { sync: (state, signal) => spec.sync(config, state, deps.logger, signal) },
      testConnection: () => {
        const target = spec.probe(config);
        return probe(target.url, target.headers);
      },
    }),
  });
  return Object.assign(connector, { importFile: spec.importFile });
}

export const emptyBatch = (): FeedBatch => ({ cves: [], advisories: [] });

export interface DocumentEntry {
  url: string;
  /** When the source last changed the document (ISO 8601); the sync cursor compares these. */
  changedAt: string;
}

/**
 * The documents a sync fetches from an index (MSRC's update list, a CSAF provider's changes.csv):
 * those changed after the cursor, oldest first, at most `max`. A first sync without a cursor takes
 * the newest `max` — older history is what `feeds import` is for.
 */
export function documentsToFetch(entries: DocumentEntry[], cursor: string | undefined, max: number): DocumentEntry[] {
  const sorted = [...entries].sort((a, b) => Date.parse(a.changedAt) - Date.parse(b.changedAt));
  if (cursor === undefined) return sorted.slice(-max);
  const after = Date.parse(cursor);
  return sorted.filter((e) => Date.parse(e.changedAt) > after).slice(0, max);
}

/**
 * Sync for sources published as one document that is replaced whole (KEV, EPSS): a conditional GET,
 * and the document's own version as the cursor for servers that send no validators.
 */
export async function syncWholeDocument(
  url: string,
  state: FeedSyncState,
  opts: { retry: RetryPolicy; logger: Logger; signal?: AbortSignal | undefined },
  parse: (body: Buffer) => { version: string; batch: FeedBatch },
): Promise<FeedSyncResult> {
  const fetched = await conditionalGet(url, state, {
    retry: opts.retry,
    signal: opts.signal,
    onWait: (note) => opts.logger.warn(note),
  });
  if (!fetched) return { notModified: true, state, batch: emptyBatch() };
  const { version, batch } = parse(fetched.body);
  const next = { etag: fetched.etag, lastModified: fetched.lastModified, cursor: version };
  if (version === state.cursor) return { notModified: true, state: next, batch: emptyBatch() };
  return { notModified: false, state: next, batch };
}

/**
 * Sync for sources that publish an index of documents (MSRC's update list, a CSAF provider's
 * changes.csv): a conditional GET of the index, then each document changed since the cursor.
 * The cursor becomes the change time of the last document fetched, so a sync cut short by
 * `maxDocuments` continues where it stopped.
 *
 * A document the parser refuses is left out of the batch and listed in `refused`, and the cursor
 * still moves past it. Holding the cursor at a refused document would fetch it, and every document
 * after it, on every sync until the source changed it, and would stop all later advisories for
 * good if the source never does: one tampered file would starve the feed. It is not taken for
 * stored either: the result names it and the reason, and it is logged at warn. A source that
 * republishes it gives it a newer change time, and the next sync fetches it again.
 */
export async function syncDocumentIndex(
  indexUrl: string,
  state: FeedSyncState,
  opts: {
    retry: RetryPolicy;
    logger: Logger;
    signal?: AbortSignal | undefined;
    maxDocuments: number;
    documentHeaders?: Record<string, string>;
  },
  parseIndex: (body: Buffer) => DocumentEntry[],
  parseDocument: (body: Buffer, url: string) => FeedBatch | DocumentRefusal | Promise<FeedBatch | DocumentRefusal>,
): Promise<FeedSyncResult> {
  const fetchOpts = { retry: opts.retry, signal: opts.signal, onWait: (note: string) => opts.logger.warn(note) };
  const index = await conditionalGet(indexUrl, state, fetchOpts);
  if (!index) return { notModified: true, state, batch: emptyBatch() };
  const todo = documentsToFetch(parseIndex(index.body), state.cursor, opts.maxDocuments);
  const next: FeedSyncState = {
    etag: index.etag,
    lastModified: index.lastModified,
    cursor: todo.at(-1)?.changedAt ?? state.cursor,
  };
  if (todo.length === 0) return { notModified: true, state: next, batch: emptyBatch() };
  const batch = emptyBatch();
  const refused: RefusedDocument[] = [];
  for (const entry of todo) {
    const doc = await getBody(entry.url, { ...fetchOpts, headers: opts.documentHeaders ?? {} });
    const part = await parseDocument(doc.body, entry.url);
    if ('refused' in part) {
      refused.push({ url: entry.url, changedAt: entry.changedAt, reason: part.refused });
      opts.logger.warn('document refused, nothing of it stored', { url: entry.url, reason: part.refused });
      continue;
    }
    batch.cves.push(...part.cves);
    batch.advisories.push(...part.advisories);
  }
  return { notModified: false, state: next, batch, ...(refused.length ? { refused } : {}) };
}
