import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { AppContext } from '../app/context.ts';
import { durationMs } from '../kernel/duration.ts';
import { feedKinds, feedSyncInput } from '../app/feeds.ts';
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
 * Makes Temporal's feed Schedules match the settings, at every worker and server start: each
 * configured feed gets one (created, or updated to the settings' interval and sync bounds), and a
 * feed no longer configured or switched `off` loses its. Idempotent, and safe when several
 * processes start at once. The Schedule skips a run while the previous one still runs; a missed
 * run (Temporal down) is made up once, within one interval.
 */
export async function ensureFeedSchedules(ctx: AppContext): Promise<Record<string, string>> {
  const { taskQueue } = ctx.settings.temporal;
  const scheduled: Record<string, string> = {};
  for (const kind of feedKinds(ctx.registry)) {
    const scheduleId = feedScheduleId(taskQueue, kind);
    const every = scheduledInterval(ctx, kind);
    if (!every) {
      await ctx.temporal.schedule
        .getHandle(scheduleId)
        .delete()
        .catch((err: unknown) => {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
        });
      continue;
    }
    const options = {
      spec: { intervals: [{ every: durationMs(every) }] },
      action: {
        type: 'startWorkflow' as const,
        workflowType: 'feedSyncWorkflow',
        taskQueue,
        workflowId: scheduledFeedSyncWorkflowId(taskQueue, kind),
        args: [feedSyncInput(ctx.settings, kind, SCHEDULED_ATTEMPTS)],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: durationMs(every) },
    };
    try {
      await ctx.temporal.schedule.create({ scheduleId, ...options });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await ctx.temporal.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, ...options }));
    }
    scheduled[kind] = every;
  }
  ctx.logger.info(
    Object.keys(scheduled).length ? 'feeds sync on schedule' : 'no feed syncs on schedule (none configured)',
    scheduled,
  );
  return scheduled;
}
