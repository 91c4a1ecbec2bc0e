import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { secret } from './integrations/contract/connector.ts';
import { durationSchema } from './kernel/duration.ts';
import { inputErrorFromZod } from './kernel/errors.ts';

/**
 * How Patchflow reaches Temporal. Local dev server by default; a remote cluster (Temporal Cloud
 * or self-hosted) with mTLS or an API key. Parsed once at start-up; a bad field stops the process
 * with its name.
 */
export const temporalSettingsSchema = z
  .object({
    address: z.string().min(1).default('127.0.0.1:7233'),
    namespace: z.string().min(1).default('default'),
    taskQueue: z.string().min(1).default('patchflow'),
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
      })
      .prefault({}),
  })
  .refine((s) => !(s.apiKey && s.tls?.clientCertPath), { message: 'use either apiKey or tls client certificates, not both', path: ['apiKey'] });

export type TemporalSettings = z.infer<typeof temporalSettingsSchema>;
export type TemporalTimeouts = TemporalSettings['timeouts'];

/** Env wins over the optional file (`PATCHFLOW_TEMPORAL_CONFIG`, JSON). */
export function loadTemporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const fromFile = env['PATCHFLOW_TEMPORAL_CONFIG'] ? (JSON.parse(readFileSync(env['PATCHFLOW_TEMPORAL_CONFIG'], 'utf8')) as Record<string, unknown>) : {};
  const raw = {
    ...fromFile,
    ...definedOnly({
      address: env['TEMPORAL_ADDRESS'],
      namespace: env['TEMPORAL_NAMESPACE'],
      taskQueue: env['TEMPORAL_TASK_QUEUE'],
      apiKey: env['TEMPORAL_API_KEY'],
    }),
    timeouts: {
      ...((fromFile['timeouts'] as Record<string, unknown> | undefined) ?? {}),
      ...definedOnly({
        activityStartToClose: env['PATCHFLOW_ACTIVITY_TIMEOUT'],
        deploymentStartToClose: env['PATCHFLOW_DEPLOYMENT_TIMEOUT'],
        deploymentHeartbeat: env['PATCHFLOW_DEPLOYMENT_HEARTBEAT'],
      }),
    },
  };
  const tlsEnv = definedOnly({
    serverName: env['TEMPORAL_TLS_SERVER_NAME'],
    serverRootCaPath: env['TEMPORAL_TLS_CA'],
    clientCertPath: env['TEMPORAL_TLS_CERT'],
    clientKeyPath: env['TEMPORAL_TLS_KEY'],
  });
  if (Object.keys(tlsEnv).length) Object.assign(raw, { tls: tlsEnv });
  const parsed = temporalSettingsSchema.safeParse(raw);
  if (!parsed.success) throw inputErrorFromZod('Temporal settings', parsed.error.issues.map((i) => ({ ...i, path: ['temporal', ...i.path] })));
  return parsed.data;
}

export function definedOnly(o: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}
