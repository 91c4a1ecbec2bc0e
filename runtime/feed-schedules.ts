import type { AppContext } from '../app/context.ts';
import { feedKinds, feedSyncInput } from '../app/feeds.ts';
import { ensureIntervalSchedules } from '../app/schedules.ts';
import { feedScheduleId, scheduledFeedSyncWorkflowId } from '../workflows/feed-sync.ts';

/** A scheduled sync is tried again later when the source stays down; the next run comes anyway. */
const SCHEDULED_ATTEMPTS = 3;

/** The interval a feed syncs at on its own: configured under `connectors` and not `off` in `feeds.schedule`. */
function scheduledInterval(ctx: AppContext, kind: string): string | undefined {
  if (!ctx.registry.list().some((c) => c.definition.id === kind)) return undefined;
  const every = (ctx.settings.feeds.schedule as Record<string, string | undefined>)[kind];
  return every === undefined || every === 'off' ? undefined : every;
}

/**
 * Makes Temporal's feed Schedules match the settings (app/schedules.ts): each configured feed gets
 * one at its interval and sync bounds, and a feed no longer configured or switched `off` loses its.
 */
export async function ensureFeedSchedules(ctx: AppContext): Promise<Record<string, string>> {
  const { taskQueue } = ctx.settings.temporal;
  return ensureIntervalSchedules(
    ctx,
    'feed',
    feedKinds(ctx.registry).map((kind) => ({
      name: kind,
      scheduleId: feedScheduleId(taskQueue, kind),
      every: scheduledInterval(ctx, kind),
      workflowType: 'feedSyncWorkflow',
      workflowId: scheduledFeedSyncWorkflowId(taskQueue, kind),
      args: [feedSyncInput(ctx.settings, kind, SCHEDULED_ATTEMPTS)],
    })),
  );
}
