import { ActivityCancellationType, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.ts';
import { nonRetryableErrorTypes } from '../kernel/error-kinds.ts';
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

/**
 * One feed's sync: one activity, which fetches what changed and stores it in one transaction.
 *
 * A sync never runs twice at once. The REST route and the CLI start this workflow under the
 * feed's one id and, when a sync is already running there, wait for that one instead
 * (WorkflowIdConflictPolicy USE_EXISTING). A run started by the feed's Schedule has an id of its
 * own (Temporal adds the time), so it runs the sync as a child under that same one id, and when
 * the id is taken by a sync still running, it skips: the Schedule's overlap policy SKIP covers
 * its own runs, this covers the ones people started.
 */
export async function feedSyncWorkflow(input: FeedSyncInput): Promise<FeedSyncOutcome> {
  const { workflowId, taskQueue } = workflowInfo();
  const syncId = feedSyncWorkflowId(taskQueue, input.kind);
  if (workflowId !== syncId) {
    try {
      return await executeChild(feedSyncWorkflow, { workflowId: syncId, args: [input] });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      return { feed: input.kind, skipped: `a sync of ${input.kind} is still running (${syncId})` };
    }
  }
  const { syncFeedKind } = proxyActivities<Activities>({
    startToCloseTimeout: asDuration(input.timeouts.sync),
    heartbeatTimeout: asDuration(input.timeouts.heartbeat),
    // The sync's end is the activity's own: cancelled only once its downloads stopped and it said
    // so, never reported cancelled while a transaction may still commit.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1m',
      backoffCoefficient: 2,
      maximumInterval: '30m',
      maximumAttempts: input.attempts,
      nonRetryableErrorTypes,
    },
  });
  return syncFeedKind({ kind: input.kind });
}
