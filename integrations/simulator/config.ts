import { z } from 'zod';

export const simulatorConfigSchema = z
  .object({
    /** Same seed, same fleet: which hosts fail and how long each takes are fixed by it. */
    seed: z.coerce.number().int().default(1),
    minLatencyMs: z.coerce.number().int().min(0).default(0),
    maxLatencyMs: z.coerce.number().int().min(0).default(0),
    /** Share of hosts (0–1) on which installing a given patch fails. */
    failureRate: z.coerce.number().min(0).max(1).default(0),
    /** Share of hosts (0–1) that do not answer at all. */
    unreachableRate: z.coerce.number().min(0).max(1).default(0),
    /** Hosts on which every install fails, whatever the rates say. */
    failHosts: z.array(z.string().min(1)).default([]),
    /**
     * Hosts whose install breaks the deployer itself: the call throws on every attempt, as a WinRM
     * session that drops or an AWX that answers 500 does, instead of reporting the host failed.
     */
    brokenHosts: z.array(z.string().min(1)).default([]),
    /** Hosts whose install never returns, as a hung WinRM session does: only an abort ends it. */
    hangHosts: z.array(z.string().min(1)).default([]),
    /** When set, the fleet is exactly these hosts and any other name is unreachable. */
    knownHosts: z.array(z.string().min(1)).optional(),
    /** How many hosts are worked on at once. */
    concurrency: z.coerce.number().int().min(1).max(10_000).default(100),
  })
  .refine((c) => c.maxLatencyMs >= c.minLatencyMs, {
    message: 'maxLatencyMs must be at least minLatencyMs',
    path: ['maxLatencyMs'],
  });
export type SimulatorConfig = z.infer<typeof simulatorConfigSchema>;
