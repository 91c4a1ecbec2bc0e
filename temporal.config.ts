import { z } from 'zod';
import { secret } from './integrations/contract/connector.ts';
import { durationSchema } from './kernel/duration.ts';

/**
 * How Patchflow reaches Temporal. Local dev server by default; a remote cluster (Temporal Cloud
 * or self-hosted) with mTLS or an API key. Parsed once at start-up; a bad field stops the process
 * with its name. runtime/settings.ts reads it from the environment and an optional file.
 */
export const temporalSettingsSchema = z
  .object({
    address: z.string().min(1).default('127.0.0.1:7233'),
    namespace: z.string().min(1).default('default'),
    taskQueue: z.string().min(1).default('patchflow'),
    /**
     * Activities that touch hosts (deploy, verify, roll back, health checks) run on the task queue
     * `<taskQueue>-hosts`, in a worker pool of their own: long installs never take the slots that
     * approvals and bookkeeping of other cycles need.
     */
    hostActivities: z
      .object({
        /** Host activities one worker process runs at once (each is a batch of hosts). */
        concurrency: z.coerce.number().int().min(1).max(1000).default(20),
        /** Host activities started per second across every worker on the queue; unset means no limit. */
        perSecond: z.coerce.number().positive().optional(),
      })
      .prefault({}),
    apiKey: secret().optional(),
    tls: z
      .object({
        serverName: z.string().optional(),
        serverRootCaPath: z.string().optional(),
        clientCertPath: z.string().optional(),
        clientKeyPath: z.string().optional(),
      })
      .optional(),
    timeouts: z
      .object({
        /** Ordinary activities (database writes, lookups). */
        activityStartToClose: durationSchema.default('2m' as z.infer<typeof durationSchema>),
        /** One deployment batch may run a long playbook or wait on WSUS. */
        deploymentStartToClose: durationSchema.default('2h' as z.infer<typeof durationSchema>),
        /** How soon a dead worker's deployment is noticed and retried elsewhere. */
        deploymentHeartbeat: durationSchema.default('30s' as z.infer<typeof durationSchema>),
        /** How long a deployer call may show no progress (a host done, a job status) before it is given up as hung. */
        hostTimeout: durationSchema.default('30m' as z.infer<typeof durationSchema>),
        /** How many times a batch is tried before the rollout counts it failed for good and compensates. */
        deploymentAttempts: z.coerce.number().int().min(1).max(100).default(10),
      })
      .prefault({}),
  })
  .refine((s) => !(s.apiKey && s.tls?.clientCertPath), {
    message: 'use either apiKey or tls client certificates, not both',
    path: ['apiKey'],
  });

export type TemporalSettings = z.infer<typeof temporalSettingsSchema>;
export type TemporalTimeouts = TemporalSettings['timeouts'];
