import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { asTheOneSync, syncRetry } from './one-sync.ts';
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

/** One connector's inventory sync: one activity, which lists the connector's assets and stores them; never two at once (one-sync.ts). */
export async function inventorySyncWorkflow(input: InventorySyncInput): Promise<InventorySyncOutcome> {
  const syncId = inventorySyncWorkflowId(workflowInfo().taskQueue, input.connector);
  const delegated = await asTheOneSync(inventorySyncWorkflow, syncId, input);
  if (delegated)
    return 'ran' in delegated
      ? delegated.ran
      : { connector: input.connector, skipped: `a sync of ${input.connector} is still running (${syncId})` };
  const { syncInventoryConnector } = proxyActivities<Activities>({
    startToCloseTimeout: asDuration(input.timeout),
    retry: syncRetry(input.attempts),
  });
  return syncInventoryConnector({ connector: input.connector, actor: input.actor });
}
