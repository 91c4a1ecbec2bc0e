import type { Duration } from '@temporalio/common';

/** Duration strings (`90s`, `4h`) to milliseconds, inside the workflow sandbox where Node modules are off limits. */
const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function durationToMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new TypeError(`not a duration: ${text}`);
  return Number(m[1]) * unitMs[m[2]!]!;
}

/** Narrows a config duration string to Temporal's Duration type, refusing anything Temporal would misread. */
export function asDuration(text: string): Duration {
  durationToMs(text);
  return text as Duration;
}
