import type { Knex } from 'knex';
import type { FeedSyncState } from '../integrations/contract/index.ts';
import type { ConnectorDeps } from '../integrations/contract/connector.ts';
import { InputError, NotFoundError } from '../kernel/errors.ts';
import { ConnectorRegistry } from '../integrations/contract/registry.ts';
import { parseInput } from '../kernel/validate.ts';
import { upsertAdvisories, type AdvisoryUpsertCounts } from '../db/repositories/advisories.ts';
import { clearKevExcept, upsertCves, type UpsertCounts } from '../db/repositories/cves.ts';
import { getFeedState, saveFeedState } from '../db/repositories/feed-state.ts';
import { feedBatchSchema, type FeedBatch } from '../integrations/feeds/batch.ts';
import { canImportFiles, refusedDocuments, type RefusedDocument } from '../integrations/feeds/feed.ts';

/** Where feed batches meet the database: one import or sync is one transaction, so a bad file changes nothing. */

export interface FeedRunResult {
  feed: string;
  notModified: boolean;
  cves: UpsertCounts;
  advisories: AdvisoryUpsertCounts;
  /** CVEs that left the KEV catalogue with this run (CISA removes entries, rarely). */
  kevRemoved: number;
  state?: FeedSyncState | undefined;
  /** Documents fetched but not stored, with why (a CSAF document whose hash or signature failed). */
  refused?: RefusedDocument[] | undefined;
}

const nothing = (feed: string, state?: FeedSyncState): FeedRunResult => ({
  feed,
  notModified: true,
  cves: { inserted: 0, updated: 0 },
  advisories: { advisories: 0, advisoryCves: 0, patches: 0, patchCves: 0 },
  kevRemoved: 0,
  state,
});

async function storeBatch(
  db: Knex,
  batch: FeedBatch,
): Promise<Pick<FeedRunResult, 'cves' | 'advisories' | 'kevRemoved'>> {
  const cves = await upsertCves(db, batch.cves);
  const advisories = await upsertAdvisories(db, batch.advisories);
  const kevRemoved = batch.replacesKevCatalog
    ? await clearKevExcept(
        db,
        batch.cves.map((c) => c.id),
      )
    : 0;
  return { cves, advisories, kevRemoved };
}

function feedDefinition(registry: ConnectorRegistry, kind: string) {
  const def = registry.definitions.get(kind);
  if (!def || !def.capabilities.feed) {
    throw new NotFoundError(`no advisory feed "${kind}"; known feeds: ${feedKinds(registry).join(', ')}`);
  }
  return def;
}

export function feedKinds(registry: ConnectorRegistry): string[] {
  return [...registry.definitions.values()].filter((d) => d.capabilities.feed).map((d) => d.id);
}

/** Offline import of a file as the source publishes it (for sites without internet access). */
export async function importFeedFile(
  db: Knex,
  registry: ConnectorRegistry,
  kind: string,
  body: Buffer,
): Promise<FeedRunResult> {
  const def = feedDefinition(registry, kind);
  if (!canImportFiles(def))
    throw new InputError(`feed "${kind}" cannot import files`, [{ path: ['kind'], message: 'no file import' }]);
  if (body.length === 0) throw new InputError(`the ${kind} file is empty`, [{ path: ['body'], message: 'empty' }]);
  const batch = parseInput(feedBatchSchema, def.importFile(body), `${kind} file`);
  const stored = await db.transaction((trx) => storeBatch(trx, batch));
  return { feed: kind, notModified: false, ...stored };
}

export interface SyncEnv {
  db: Knex;
  registry: ConnectorRegistry;
  deps: ConnectorDeps;
}

/**
 * Fetches what changed since the stored feed_state and stores it with the new state. A feed not
 * configured in settings runs with its defaults (the public source URLs). Nothing is written when
 * the source says nothing changed.
 */
export async function syncFeed(env: SyncEnv, kind: string, signal?: AbortSignal): Promise<FeedRunResult> {
  const def = feedDefinition(env.registry, kind);
  const configured = env.registry.list().some((c) => c.definition.id === kind);
  const feed = configured
    ? env.registry.role(kind, 'feed')
    : new ConnectorRegistry([def]).configure({ [kind]: {} }, env.deps).role(kind, 'feed');
  const result = await feed.sync(await getFeedState(env.db, kind), signal);
  if (result.notModified) return nothing(kind, result.state);
  const refused = refusedDocuments(result);
  const batch = parseInput(feedBatchSchema, result.batch, `${kind} feed data`);
  const stored = await env.db.transaction(async (trx) => {
    const counts = await storeBatch(trx, batch);
    await saveFeedState(trx, kind, result.state);
    return counts;
  });
  return {
    feed: kind,
    notModified: false,
    ...stored,
    state: result.state,
    ...(refused.length ? { refused } : {}),
  };
}
