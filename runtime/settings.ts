import { readFileSync } from 'node:fs';
import { deployerRoutingSchema, parseRoutingPairs } from '../app/deployer-routing.ts';
import { z } from 'zod';
import { connectorsWithEnv } from '../integrations/contract/env.ts';
import { connectorDefinitions } from '../integrations/registry.ts';
import { durationMs, durationSchema } from '../kernel/duration.ts';
import { InputError, inputErrorFromZod } from '../kernel/errors.ts';
import { definedOnly } from '../kernel/env.ts';
import { temporalSettingsSchema, type TemporalSettings } from '../temporal.config.ts';
import { cyclePolicySchema } from '../app/cycle-policy.ts';
import { oidcSettingsSchema } from '../security/oidc.ts';

const d = (text: string) => durationSchema.parse(text);

/** How often a feed syncs on its own, or `off`; polling a source more than once a minute helps no one. */
const feedIntervalSchema = z
  .string()
  .regex(/^(off|\d+(ms|s|m|h|d))$/, { message: 'a duration such as 6h, or off', abort: true })
  .refine((v) => v === 'off' || durationMs(v) >= 60_000, 'at least 1m');

/** One line per feed of integrations/registry.ts; the defaults follow how often each source publishes. */
const feedScheduleSchema = z.strictObject({
  kev: feedIntervalSchema.default('6h'),
  /** FIRST publishes scores once a day. */
  epss: feedIntervalSchema.default('24h'),
  /** NVD asks that changes be fetched no more than once every two hours. */
  nvd: feedIntervalSchema.default('2h'),
  /** Monthly releases, with revisions in between. */
  msrc: feedIntervalSchema.default('24h'),
  csaf: feedIntervalSchema.default('6h'),
});

/**
 * Feed syncs as Temporal Schedules: one per feed configured under `connectors`, at its interval
 * in `schedule`, created or updated when a worker or server starts (runtime/feed-schedules.ts).
 */
const feedSettingsSchema = z
  .object({
    schedule: feedScheduleSchema.prefault({}),
    /** Bounds one whole sync (all its requests, retries and waits); each request has its own `retry.requestTimeout` besides. */
    syncTimeout: durationSchema.default(d('1h')),
    /** How soon a lost worker's sync, or a cancellation, is noticed. */
    heartbeat: durationSchema.default(d('30s')),
  })
  .prefault({});

/** Every connector of integrations/registry.ts that lists assets (ansible, wsus, sccm). */
const inventoryConnectorIds = connectorDefinitions.filter((c) => c.capabilities.inventory).map((c) => c.id);

/**
 * Inventory syncs as Temporal Schedules: one per inventory connector configured under
 * `connectors`, at its interval in `schedule` (default 6h), created or updated when a worker or
 * server starts (app/inventory-sync.ts). Hosts the listing no longer has are marked, never deleted.
 */
const inventorySettingsSchema = z
  .object({
    schedule: z
      .strictObject(Object.fromEntries(inventoryConnectorIds.map((id) => [id, feedIntervalSchema.default('6h')])))
      .prefault({}),
    /** Bounds one listing and its storing. */
    syncTimeout: durationSchema.default(d('15m')),
  })
  .prefault({});

export const settingsSchema = z.object({
  /** Where the embedded database, the demo hosts and connector work files live. */
  dataDir: z.string().min(1).default('.patchflow'),
  /** PostgreSQL URL; unset means the embedded PGlite database under dataDir. */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional(),
  http: z
    .object({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.coerce.number().int().min(0).max(65535).default(8080),
      /** The URL people and providers reach the server at (behind a proxy: the proxy's); sign-in redirects to it. */
      publicUrl: z.url().optional(),
      /** A second listener serving only /slack/* and /teams/*: the one port to expose to the internet. */
      public: z
        .object({
          host: z.string().min(1).default('0.0.0.0'),
          port: z.coerce.number().int().min(0).max(65535),
        })
        .optional(),
    })
    .prefault({}),
  /** Sign-in through an OpenID provider; unset is local mode (API tokens only, the local ones in dataDir). */
  oidc: oidcSettingsSchema.optional(),
  policy: cyclePolicySchema.prefault({}),
  /** Largest scanner report `POST /api/scans/import` accepts; reports are streamed, so this bounds time and disk, not memory. */
  scanImportMaxBytes: z.coerce
    .number()
    .int()
    .min(1)
    .default(4 * 1024 ** 3),
  /** The connector that deploys patches unless a cycle names another. */
  deployer: z.string().min(1).default('ansible'),
  /** Other deployers for some hosts: by patch group, then by platform (Windows → WSUS, Linux → Ansible). */
  deployers: deployerRoutingSchema,
  /** Backup connectors for some hosts (e.g. vSphere snapshots), by patch group, then platform; otherwise the host's deployer backs it up if it can. */
  backups: deployerRoutingSchema,
  /**
   * The scanner connector (nessus, openvas) that re-scans a cycle's targets after deployment, so
   * that findings close on a scan's evidence; without one, verification is the deployer's word.
   */
  verifyScanner: z.string().min(1).optional(),
  /** Connector settings by connector id; each is parsed by that connector's own schema. */
  connectors: z.record(z.string(), z.unknown()).default({ ansible: {} }),
  feeds: feedSettingsSchema,
  inventory: inventorySettingsSchema,
});

export type Settings = z.infer<typeof settingsSchema> & { temporal: TemporalSettings };

/** A routing (group/platform → connector) from the settings file, overlaid by `<PREFIX>_BY_GROUP` and `<PREFIX>_BY_PLATFORM` as name=id pairs. */
function routingSettings(fromFile: unknown, env: NodeJS.ProcessEnv, prefix: string): Record<string, unknown> {
  return {
    ...((fromFile as Record<string, unknown> | undefined) ?? {}),
    ...Object.fromEntries(
      (
        [
          ['byPlatform', parseRoutingPairs(env[`${prefix}_BY_PLATFORM`])],
          ['byGroup', parseRoutingPairs(env[`${prefix}_BY_GROUP`])],
        ] as const
      ).filter(([, pairs]) => pairs !== undefined),
    ),
  };
}

/**
 * Settings from an optional JSON file (`PATCHFLOW_CONFIG`) overlaid with environment variables.
 * Anything wrong stops start-up with the field's path, e.g. `http.port: Too big`.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  let fromFile: Record<string, unknown> = {};
  const file = env['PATCHFLOW_CONFIG'];
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new InputError(`cannot read PATCHFLOW_CONFIG ${file}: ${(err as Error).message}`, [
        { path: ['PATCHFLOW_CONFIG'], message: 'unreadable or not JSON' },
      ]);
    }
  }
  const httpFile = (fromFile['http'] as Record<string, unknown> | undefined) ?? {};
  const policyFile = (fromFile['policy'] as Record<string, Record<string, unknown>> | undefined) ?? {};
  const feedsFile = (fromFile['feeds'] as Record<string, unknown> | undefined) ?? {};
  const inventoryFile = (fromFile['inventory'] as Record<string, unknown> | undefined) ?? {};
  const connectors = connectorsWithEnv(connectorDefinitions, env, fromFile['connectors']);
  const raw = {
    ...fromFile,
    ...(connectors ? { connectors } : {}),
    ...definedOnly({
      dataDir: env['PATCHFLOW_DATA_DIR'],
      databaseUrl: env['DATABASE_URL'],
      deployer: env['PATCHFLOW_DEPLOYER'],
      verifyScanner: env['PATCHFLOW_VERIFY_SCANNER'],
      scanImportMaxBytes: env['PATCHFLOW_SCAN_IMPORT_MAX_BYTES'],
    }),
    deployers: routingSettings(fromFile['deployers'], env, 'PATCHFLOW_DEPLOYER'),
    backups: routingSettings(fromFile['backups'], env, 'PATCHFLOW_BACKUP'),
    http: {
      ...httpFile,
      ...definedOnly({
        host: env['PATCHFLOW_HTTP_HOST'],
        port: env['PATCHFLOW_HTTP_PORT'],
        publicUrl: env['PATCHFLOW_PUBLIC_URL'],
      }),
      ...(env['PATCHFLOW_PUBLIC_HTTP_PORT']
        ? {
            public: {
              ...(httpFile['public'] as Record<string, unknown> | undefined),
              ...definedOnly({ host: env['PATCHFLOW_PUBLIC_HTTP_HOST'], port: env['PATCHFLOW_PUBLIC_HTTP_PORT'] }),
            },
          }
        : {}),
    },
    ...oidcFromEnv(env, fromFile['oidc'] as Record<string, unknown> | undefined),
    feeds: {
      ...feedsFile,
      ...definedOnly({ syncTimeout: env['PATCHFLOW_FEED_SYNC_TIMEOUT'], heartbeat: env['PATCHFLOW_FEED_HEARTBEAT'] }),
      schedule: {
        ...(feedsFile['schedule'] as Record<string, unknown> | undefined),
        ...definedOnly(
          Object.fromEntries(
            Object.keys(feedScheduleSchema.shape).map((kind) => [
              kind,
              env[`PATCHFLOW_FEED_SCHEDULE_${kind.toUpperCase()}`],
            ]),
          ),
        ),
      },
    },
    inventory: {
      ...inventoryFile,
      ...definedOnly({ syncTimeout: env['PATCHFLOW_INVENTORY_SYNC_TIMEOUT'] }),
      schedule: {
        ...(inventoryFile['schedule'] as Record<string, unknown> | undefined),
        ...definedOnly(
          Object.fromEntries(
            inventoryConnectorIds.map((id) => [
              id,
              env[`PATCHFLOW_INVENTORY_SCHEDULE_${id.toUpperCase().replace(/-/g, '_')}`],
            ]),
          ),
        ),
      },
    },
    policy: {
      approval: {
        ...(policyFile['approval'] ?? {}),
        ...definedOnly({
          quorum: env['PATCHFLOW_APPROVAL_QUORUM'],
          timeout: env['PATCHFLOW_APPROVAL_TIMEOUT'],
          remindEvery: env['PATCHFLOW_APPROVAL_REMIND_EVERY'],
          maxReminders: env['PATCHFLOW_APPROVAL_MAX_REMINDERS'],
          approverGroups: env['PATCHFLOW_APPROVAL_GROUPS'],
          escalateAfter: env['PATCHFLOW_APPROVAL_ESCALATE_AFTER'],
          escalationGroups: env['PATCHFLOW_APPROVAL_ESCALATION_GROUPS'],
        }),
      },
      deployment: {
        ...(policyFile['deployment'] ?? {}),
        ...definedOnly({ maxFailedPercent: env['PATCHFLOW_MAX_FAILED_PERCENT'] }),
      },
    },
  };
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) throw inputErrorFromZod('settings', parsed.error.issues);
  return { ...parsed.data, temporal: loadTemporalSettings(env) };
}

/** PATCHFLOW_OIDC_* over the file's `oidc`; nothing at all leaves OIDC off (local mode). */
function oidcFromEnv(env: NodeJS.ProcessEnv, fromFile: Record<string, unknown> | undefined) {
  const fromEnv = definedOnly({
    issuer: env['PATCHFLOW_OIDC_ISSUER'],
    clientId: env['PATCHFLOW_OIDC_CLIENT_ID'],
    clientSecret: env['PATCHFLOW_OIDC_CLIENT_SECRET'],
    cliClientId: env['PATCHFLOW_OIDC_CLI_CLIENT_ID'],
    audience: env['PATCHFLOW_OIDC_AUDIENCE'],
    scope: env['PATCHFLOW_OIDC_SCOPE'],
    userClaim: env['PATCHFLOW_OIDC_USER_CLAIM'],
    rolesClaim: env['PATCHFLOW_OIDC_ROLES_CLAIM'],
    roleMap: env['PATCHFLOW_OIDC_ROLE_MAP'],
    groupMap: env['PATCHFLOW_OIDC_GROUP_MAP'],
  });
  return fromFile || Object.keys(fromEnv).length ? { oidc: { ...fromFile, ...fromEnv } } : {};
}

/** Env wins over the optional file (`PATCHFLOW_TEMPORAL_CONFIG`, JSON). */
function loadTemporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const fromFile = env['PATCHFLOW_TEMPORAL_CONFIG']
    ? (JSON.parse(readFileSync(env['PATCHFLOW_TEMPORAL_CONFIG'], 'utf8')) as Record<string, unknown>)
    : {};
  const raw = {
    ...fromFile,
    ...definedOnly({
      address: env['TEMPORAL_ADDRESS'],
      namespace: env['TEMPORAL_NAMESPACE'],
      taskQueue: env['TEMPORAL_TASK_QUEUE'],
      apiKey: env['TEMPORAL_API_KEY'],
    }),
    hostActivities: {
      ...((fromFile['hostActivities'] as Record<string, unknown> | undefined) ?? {}),
      ...definedOnly({
        concurrency: env['PATCHFLOW_HOST_ACTIVITY_CONCURRENCY'],
        perSecond: env['PATCHFLOW_HOST_ACTIVITIES_PER_SECOND'],
      }),
    },
    timeouts: {
      ...((fromFile['timeouts'] as Record<string, unknown> | undefined) ?? {}),
      ...definedOnly({
        activityStartToClose: env['PATCHFLOW_ACTIVITY_TIMEOUT'],
        deploymentStartToClose: env['PATCHFLOW_DEPLOYMENT_TIMEOUT'],
        deploymentHeartbeat: env['PATCHFLOW_DEPLOYMENT_HEARTBEAT'],
        deploymentAttempts: env['PATCHFLOW_DEPLOYMENT_ATTEMPTS'],
        hostTimeout: env['PATCHFLOW_HOST_TIMEOUT'],
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
  if (!parsed.success)
    throw inputErrorFromZod(
      'Temporal settings',
      parsed.error.issues.map((i) => ({ ...i, path: ['temporal', ...i.path] })),
    );
  return parsed.data;
}
