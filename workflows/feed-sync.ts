import { ActivityCancellationType, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { asTheOneSync, syncRetry } from './one-sync.ts';
import { asDuration } from './time.ts';
import type { DurationText } from './types.ts';

export interface FeedSyncInput {
  /** The feed's connector id (`kev`, `nvd`, …). */
  kind: string;
  /**
   * Tries of the whole sync. Each request is retried in place first (integrations/feeds/http.ts);
   * this is for what outlasts that: a source down for longer, a rate limit that asked for a long
   * wait (retried after exactly that, as `nextRetryDelay`), a worker lost mid-sync.
   */
  attempts: number;
  timeouts: {
    /** Bounds one whole sync: every request, its retries and waits; each request has its own timeout besides. */
    sync: DurationText;
    /** How soon a lost worker's sync, or a cancellation, is noticed. */
    heartbeat: DurationText;
  };
}

export type FeedSyncResult = Awaited<ReturnType<Activities['syncFeedKind']>>;
/** A scheduled run that found a sync of its feed still running does not start a second one. */
export type FeedSyncOutcome = FeedSyncResult | { feed: string; skipped: string };

/**
 * The one id under which a feed's sync runs, whoever asked for it; per task queue, so that
 * deployments (and test runs) sharing a namespace keep theirs apart.
 */
export const feedSyncWorkflowId = (taskQueue: string, kind: string): string => `feed-sync-${taskQueue}-${kind}`;
/** A feed's Temporal Schedule; the runs it starts are named `<this>-scheduled-<time>`. */
export const feedScheduleId = (taskQueue: string, kind: string): string => `feed-sync-${taskQueue}-${kind}`;
export const scheduledFeedSyncWorkflowId = (taskQueue: string, kind: string): string =>
  `${feedScheduleId(taskQueue, kind)}-scheduled`;

/** One feed's sync: one activity, which fetches what changed and stores it in one transaction; never two at once (one-sync.ts). */
export async function feedSyncWorkflow(input: FeedSyncInput): Promise<FeedSyncOutcome> {
  const syncId = feedSyncWorkflowId(workflowInfo().taskQueue, input.kind);
  const delegated = await asTheOneSync(feedSyncWorkflow, syncId, input);
  if (delegated)
    return 'ran' in delegated
      ? delegated.ran
      : { feed: input.kind, skipped: `a sync of ${input.kind} is still running (${syncId})` };
  const { syncFeedKind } = proxyActivities<Activities>({
    startToCloseTimeout: asDuration(input.timeouts.sync),
    heartbeatTimeout: asDuration(input.timeouts.heartbeat),
    // The sync's end is the activity's own: cancelled only once its downloads stopped and it said
    // so, never reported cancelled while a transaction may still commit.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: syncRetry(input.attempts),
  });
  return syncFeedKind({ kind: input.kind });
}
