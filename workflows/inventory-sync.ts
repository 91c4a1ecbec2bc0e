import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.ts';
import { nonRetryableErrorTypes } from '../kernel/error-kinds.ts';
import { asDuration } from './time.ts';
import type { DurationText } from './types.ts';

export interface InventorySyncInput {
  /** The inventory connector's id (`wsus`, `sccm`, `ansible`). */
  connector: string;
  /** Who asked: a person's user id, or `schedule`; the audit entry names them. */
  actor: string;
  /** Tries of the whole sync: a person waiting gets one, a scheduled run retries a server that is down. */
  attempts: number;
  /** Bounds one listing and its storing. */
  timeout: DurationText;
}

export type InventorySyncResult = Awaited<ReturnType<Activities['syncInventoryConnector']>>;
/** A scheduled run that found a sync of its connector still running does not start a second one. */
export type InventorySyncOutcome = InventorySyncResult | { connector: string; skipped: string };

/** The one id under which a connector's inventory sync runs, whoever asked; per task queue, as feed syncs are. */
export const inventorySyncWorkflowId = (taskQueue: string, connector: string): string =>
  `inventory-sync-${taskQueue}-${connector}`;
/** A connector's inventory Schedule; the runs it starts are named `<this>-scheduled-<time>`. */
export const inventoryScheduleId = (taskQueue: string, connector: string): string =>
  `inventory-sync-${taskQueue}-${connector}`;
export const scheduledInventorySyncWorkflowId = (taskQueue: string, connector: string): string =>
  `${inventoryScheduleId(taskQueue, connector)}-scheduled`;

/**
 * One connector's inventory sync: one activity, which lists the connector's assets and stores
 * them. Never two at once per connector, as for feeds (workflows/feed-sync.ts): people's requests
 * share the one id (USE_EXISTING), a scheduled run executes the sync as a child under it and
 * skips when that id is taken by a sync still running.
 */
export async function inventorySyncWorkflow(input: InventorySyncInput): Promise<InventorySyncOutcome> {
  const { workflowId, taskQueue } = workflowInfo();
  const syncId = inventorySyncWorkflowId(taskQueue, input.connector);
  if (workflowId !== syncId) {
    try {
      return await executeChild(inventorySyncWorkflow, { workflowId: syncId, args: [input] });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      return { connector: input.connector, skipped: `a sync of ${input.connector} is still running (${syncId})` };
    }
  }
  const { syncInventoryConnector } = proxyActivities<Activities>({
    startToCloseTimeout: asDuration(input.timeout),
    retry: {
      initialInterval: '1m',
      backoffCoefficient: 2,
      maximumInterval: '30m',
      maximumAttempts: input.attempts,
      nonRetryableErrorTypes,
    },
  });
  return syncInventoryConnector({ connector: input.connector, actor: input.actor });
}
