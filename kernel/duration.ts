import { z } from 'zod';

const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration as people write it in config: `90s`, `15m`, `72h`, `14d`. Temporal accepts the same strings. */
export const durationSchema = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 30s, 15m, 72h or 14d')
  .brand<'Duration'>();
export type Duration = z.infer<typeof durationSchema>;

export function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new Error(`not a duration: ${d}`);
  return Number(m[1]) * unitMs[m[2] as keyof typeof unitMs];
}
