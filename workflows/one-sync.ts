import { executeChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, type RetryPolicy } from '@temporalio/common';
import { nonRetryableErrorTypes } from '../kernel/error-kinds.ts';

/**
 * Syncs (feeds, inventories) never run twice at once for one source. People's requests start the
 * sync under its one id and, when one is already running there, wait for that one instead
 * (WorkflowIdConflictPolicy USE_EXISTING). A run started by a Schedule has an id of its own
 * (Temporal adds the time), so it runs the sync as a child under the one id, and when that id is
 * taken by a sync still running, it skips: the Schedule's overlap policy SKIP covers its own runs,
 * this covers the ones people started.
 *
 * Undefined when this workflow is the sync itself and should go on to run it.
 */
export async function asTheOneSync<I, O>(
  sync: (input: I) => Promise<O>,
  syncId: string,
  input: I,
): Promise<{ ran: O } | { skipped: true } | undefined> {
  if (workflowInfo().workflowId === syncId) return undefined;
  try {
    return { ran: await executeChild(sync, { workflowId: syncId, args: [input] }) };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { skipped: true };
  }
}

/** Tries of a whole sync, for what outlasts its own retries: a source down for longer, a lost worker. */
export const syncRetry = (attempts: number): RetryPolicy => ({
  initialInterval: '1m',
  backoffCoefficient: 2,
  maximumInterval: '30m',
  maximumAttempts: attempts,
  nonRetryableErrorTypes,
});
