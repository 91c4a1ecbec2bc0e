import type { Knex } from 'knex';
import { intervalScheduleStatus, type ScheduleStatus } from './schedules.ts';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TemporalFailure, TimeoutFailure } from '@temporalio/common';
import type { FeedSyncState } from '../integrations/contract/index.ts';
import type { ConnectorDeps } from '../integrations/contract/connector.ts';
import { isErrorKindName } from '../kernel/error-kinds.ts';
import { ConflictError, errorFromFailure, InputError, NotFoundError, UpstreamError } from '../kernel/errors.ts';
import { ConnectorRegistry } from '../integrations/contract/registry.ts';
import { parseInput } from '../kernel/validate.ts';
import { upsertAdvisories, type AdvisoryUpsertCounts } from '../db/repositories/advisories.ts';
import { clearKevExcept, upsertCves, type UpsertCounts } from '../db/repositories/cves.ts';
import { getFeedState, saveFeedState } from '../db/repositories/feed-state.ts';
import { feedBatchSchema, type FeedBatch } from '../integrations/feeds/batch.ts';
import { canImportFiles, refusedDocuments, type RefusedDocument } from '../integrations/feeds/feed.ts';
import {
  feedScheduleId,
  feedSyncWorkflowId,
  type FeedSyncInput,
  type feedSyncWorkflow,
} from '../workflows/feed-sync.ts';
import type { Settings } from '../runtime/settings.ts';
import type { AppContext } from './context.ts';

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
 *
 * Once `signal` is aborted the sync ends with its reason, whatever a connector made of the
 * interrupted download on its way out (CSAF counts a key it could not fetch as a problem with
 * that key): a cancelled sync is a cancellation, never an outage that would be retried.
 */
export async function syncFeed(env: SyncEnv, kind: string, signal?: AbortSignal): Promise<FeedRunResult> {
  try {
    return await fetchAndStore(env, kind, signal);
  } catch (err) {
    if (signal?.aborted) throw signal.reason as Error;
    throw err;
  }
}

async function fetchAndStore(env: SyncEnv, kind: string, signal?: AbortSignal): Promise<FeedRunResult> {
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

/** What a feed sync workflow is given: the settings' bounds on one sync, and how often it is tried. */
export function feedSyncInput(settings: Settings, kind: string, attempts: number): FeedSyncInput {
  return { kind, attempts, timeouts: { sync: settings.feeds.syncTimeout, heartbeat: settings.feeds.heartbeat } };
}

/** A person is waiting for the answer: one attempt, and its error comes back at once; the Schedule's next run retries. */
const REQUESTED_ATTEMPTS = 1;

/**
 * A sync someone asked for (REST, the CLI): run by a worker as the feedSync workflow, not in the
 * request, and waited for. A sync of the feed already running, scheduled or asked for by someone
 * else, is not started again: this waits for that one and answers with its result.
 */
export async function requestFeedSync(ctx: AppContext, kind: string): Promise<FeedRunResult> {
  feedDefinition(ctx.registry, kind);
  const { taskQueue } = ctx.settings.temporal;
  const handle = await ctx.temporal.workflow.start<typeof feedSyncWorkflow>('feedSyncWorkflow', {
    taskQueue,
    workflowId: feedSyncWorkflowId(taskQueue, kind),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [feedSyncInput(ctx.settings, kind, REQUESTED_ATTEMPTS)],
  });
  const outcome = await handle.result().catch((err: unknown) => {
    throw syncFailure(ctx.settings, kind, err);
  });
  // Only a scheduled run skips, and it never runs under the feed's own id.
  if ('skipped' in outcome) throw new ConflictError(outcome.skipped);
  return outcome;
}

/**
 * A failed sync workflow as the Patchflow error the edges show: the error kind the activity
 * failed with (an outage stays an UpstreamError, bad feed data an InputError), a cancellation
 * as a conflict that says so, a timeout naming the setting that bounds it.
 */
function syncFailure(settings: Settings, kind: string, err: unknown): unknown {
  if (!(err instanceof WorkflowFailedError)) return err;
  if (err.cause instanceof CancelledFailure)
    return new ConflictError(`the ${kind} sync was cancelled before it finished; nothing of it was stored`);
  for (let cause = err.cause; cause instanceof TemporalFailure; cause = cause.cause) {
    if (cause instanceof ApplicationFailure && isErrorKindName(cause.type ?? undefined))
      return errorFromFailure(cause.type, cause.message);
    if (cause instanceof TimeoutFailure)
      return new UpstreamError(
        cause.timeoutType === 'HEARTBEAT'
          ? `the ${kind} sync lost its worker (no heartbeat within feeds.heartbeat ${settings.feeds.heartbeat})`
          : `the ${kind} sync did not finish within feeds.syncTimeout ${settings.feeds.syncTimeout}`,
      );
  }
  return err;
}

export type FeedScheduleStatus = ScheduleStatus;

/** The feed's Schedule as Temporal has it; undefined when the feed syncs only when asked. */
export async function feedScheduleStatus(ctx: AppContext, kind: string): Promise<FeedScheduleStatus | undefined> {
  return intervalScheduleStatus(ctx, feedScheduleId(ctx.settings.temporal.taskQueue, kind));
}
