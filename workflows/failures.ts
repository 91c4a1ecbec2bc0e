import { isCancellation, TemporalFailure } from '@temporalio/workflow';

/** The innermost message of a failure chain: what a person can act on (the deployer's own words). */
export function rootCause(err: TemporalFailure): string {
  let e: Error = err;
  while (e.cause instanceof Error) e = e.cause;
  return e.message;
}

/**
 * A phase that failed for good (every retry spent) or was cancelled from Temporal itself, as
 * opposed to a bug in workflow code, which fails the workflow task and is retried once fixed.
 */
export function endedForGood(err: unknown): err is TemporalFailure {
  return err instanceof TemporalFailure;
}

/** Why a phase ended for good, in words for the cycle record. */
export function describeEnd(err: TemporalFailure): string {
  return isCancellation(err) ? 'cancelled in Temporal' : rootCause(err);
}
