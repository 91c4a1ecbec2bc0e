import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { durationMs } from '../kernel/duration.ts';
import type { AppContext } from './context.ts';

/** One sync Temporal runs at an interval (a feed's, an inventory connector's). */
export interface IntervalSchedule {
  /** What the logs and the answer call it (`kev`, `wsus`). */
  name: string;
  scheduleId: string;
  /** The interval from the settings; undefined when the sync runs only when asked, and its Schedule goes. */
  every: string | undefined;
  workflowType: string;
  /** The runs it starts are named `<this>-<time>`. */
  workflowId: string;
  args: unknown[];
}

/**
 * Makes Temporal's Schedules match the settings, at every worker and server start: each one with
 * an interval is created, or updated to the settings' interval and arguments; one without loses
 * its Schedule. Idempotent, and safe when several processes start at once. A Schedule skips a run
 * while the previous one still runs; a missed run (Temporal down) is made up once, within one
 * interval. Returns the intervals by name.
 */
export async function ensureIntervalSchedules(
  ctx: Pick<AppContext, 'temporal' | 'settings' | 'logger'>,
  what: string,
  schedules: IntervalSchedule[],
): Promise<Record<string, string>> {
  const { taskQueue } = ctx.settings.temporal;
  const scheduled: Record<string, string> = {};
  for (const s of schedules) {
    if (!s.every) {
      await ctx.temporal.schedule
        .getHandle(s.scheduleId)
        .delete()
        .catch((err: unknown) => {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
        });
      continue;
    }
    const options = {
      spec: { intervals: [{ every: durationMs(s.every) }] },
      action: {
        type: 'startWorkflow' as const,
        workflowType: s.workflowType,
        taskQueue,
        workflowId: s.workflowId,
        args: s.args,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: durationMs(s.every) },
    };
    try {
      await ctx.temporal.schedule.create({ scheduleId: s.scheduleId, ...options });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await ctx.temporal.schedule.getHandle(s.scheduleId).update((previous) => ({ ...previous, ...options }));
    }
    scheduled[s.name] = s.every;
  }
  ctx.logger.info(
    Object.keys(scheduled).length ? `${what} syncs on schedule` : `no ${what} syncs on schedule (none configured)`,
    scheduled,
  );
  return scheduled;
}

export interface ScheduleStatus {
  /** The interval Temporal runs the sync at (`6h`). */
  every: string;
  paused: boolean;
  nextRunAt?: string | undefined;
  lastRunAt?: string | undefined;
}

/** A Schedule as Temporal has it; undefined when there is none (the sync runs only when asked). */
export async function intervalScheduleStatus(
  ctx: Pick<AppContext, 'temporal'>,
  scheduleId: string,
): Promise<ScheduleStatus | undefined> {
  try {
    const described = await ctx.temporal.schedule.getHandle(scheduleId).describe();
    const every = described.spec.intervals?.[0]?.every;
    return {
      every: every === undefined ? 'not by interval' : durationText(every),
      paused: described.state.paused,
      nextRunAt: described.info.nextActionTimes[0]?.toISOString(),
      lastRunAt: described.info.recentActions.at(-1)?.takenAt.toISOString(),
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Milliseconds as people write durations in settings: the largest unit that divides them. */
function durationText(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  const [unit, size] = units.find(([, n]) => ms % n === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}
