import { ApplicationFailure } from '@temporalio/common';
import { PatchflowError } from '../integrations/core/errors.ts';

/**
 * `instanceof` does not survive the activity boundary, so our errors travel as ApplicationFailures
 * whose `type` is the error's name; workflows branch on that, and non-retryable ones stop at once.
 */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof PatchflowError) {
    return ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: !err.retryable, details: err.details.length ? [err.details] : [], cause: err });
  }
  return err;
}

/** Wraps every function of an activities object with the mapping above. */
export function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: never[]) => {
        try {
          return await fn(...args);
        } catch (err) {
          throw toActivityFailure(err);
        }
      },
    ]),
  ) as T;
}
