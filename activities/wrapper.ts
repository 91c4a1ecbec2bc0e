import { asyncLocalStorage } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { PatchflowError } from '../kernel/errors.ts';

/**
 * `instanceof` does not survive the activity boundary, so our errors travel as ApplicationFailures
 * whose `type` is the error's name; workflows branch on that, and non-retryable ones stop at once.
 */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof PatchflowError) {
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: !err.retryable,
      details: err.details.length ? [err.details] : [],
      cause: err,
    });
  }
  return err;
}

/**
 * Host activities carry a heartbeat timeout so that a dead worker's batch moves on quickly. Their
 * progress notes alone cannot keep them alive: one host's install (or ansible-playbook starting on
 * a busy machine) may outlast the timeout with nothing to report, and the server would then retry
 * a batch that is still running. So while such an activity runs, its worker heartbeats on a timer
 * at a third of the timeout; only a dead or frozen worker misses it. Returns the timer's stop.
 */
export function keepAlive(): () => void {
  const ctx = asyncLocalStorage.getStore();
  const timeoutMs = ctx?.info.heartbeatTimeoutMs;
  if (!ctx || !timeoutMs) return () => {};
  const timer = setInterval(() => ctx.heartbeat(), Math.max(Math.floor(timeoutMs / 3), 100));
  return () => clearInterval(timer);
}

/** Wraps every function of an activities object: failures mapped as above, kept alive while running. */
export function wrapActivities<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: never[]) => {
        const stop = keepAlive();
        try {
          return await fn(...args);
        } catch (err) {
          throw toActivityFailure(err);
        } finally {
          stop();
        }
      },
    ]),
  ) as T;
}
