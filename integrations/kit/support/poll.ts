import { setTimeout as sleep } from 'node:timers/promises';

export interface Backoff {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const defaultBackoff: Backoff = { initialMs: 1000, maxMs: 30_000, factor: 1.5 };

/**
 * Calls `check` until it reports done or `deadlineMs` passes, waiting longer each time so that a
 * long deployment does not hammer the vendor. Returns the last observation either way: what to
 * do with hosts still pending at the deadline is the connector's call, not an exception.
 */
export async function pollUntilDone<T>(opts: {
  check: () => Promise<{ done: boolean; value: T }>;
  backoff: Backoff;
  deadlineMs: number;
  signal?: AbortSignal | undefined;
  onWait?: (value: T) => void;
}): Promise<{ done: boolean; value: T }> {
  const deadline = Date.now() + opts.deadlineMs;
  let wait = opts.backoff.initialMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    const observed = await opts.check();
    if (observed.done || Date.now() + wait > deadline) return observed;
    opts.onWait?.(observed.value);
    await sleep(wait, undefined, { signal: opts.signal });
    wait = Math.min(opts.backoff.maxMs, Math.ceil(wait * opts.backoff.factor));
  }
}
