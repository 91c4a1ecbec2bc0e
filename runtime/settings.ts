import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { durationSchema } from '../kernel/duration.ts';
import { connectorsWithEnv } from '../integrations/connector-env.ts';
import { InputError, inputErrorFromZod } from '../kernel/errors.ts';
import { definedOnly, loadTemporalSettings, type TemporalSettings } from '../temporal.config.ts';
import type { CyclePolicy } from '../workflows/types.ts';
import { isValidTimeZone } from '../workflows/windows.ts';

const d = (text: string) => durationSchema.parse(text);
/** Group names as a list, or comma-separated as environment variables carry them. */
const groupListSchema = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((g) => g.trim()).filter(Boolean) : v),
  z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a group name (lower-case letters, digits and . _ -)')),
);

const failureLimitSchema = z.union([z.object({ count: z.number().int().min(0) }).strict(), z.object({ percent: z.number().min(0).max(100) }).strict()]);

/** Criticality tiers map to rings least critical first, as scoping placed them before rings were configurable. */
const defaultRings = [
  { name: 'test', criticality: [4], maxConcurrency: 10 },
  { name: 'pilot', criticality: [3], maxConcurrency: 25 },
  { name: 'broad', criticality: [2], maxConcurrency: 100 },
  { name: 'critical', criticality: [1], maxConcurrency: 25 },
];

const ringPolicySchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a ring name (lower-case letters, digits, _ and -)').refine((n) => n !== 'staging', 'staging is the testing group, not a ring'),
    criticality: z.array(z.number().int().min(1).max(4)).default([]),
    maxConcurrency: z.number().int().min(1).max(10_000),
    errorThreshold: failureLimitSchema.optional(),
  })
  .strict();

const maintenanceWindowsSchema = z
  .object({
    timezone: z.string().refine(isValidTimeZone, 'an IANA time zone such as Europe/Berlin'),
    weekly: z
      .array(
        z
          .object({
            days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).min(1),
            start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, 'a local time HH:MM or HH:MM:SS'),
            duration: durationSchema,
          })
          .strict(),
      )
      .min(1),
    cutoff: durationSchema.default(d('30m')),
    blackoutDates: z.array(z.iso.date()).default([]),
  })
  .strict();

export const deploymentPolicySchema = z
  .object({
    maxFailedPercent: z.coerce.number().min(0).max(100).default(20),
    rings: z
      .array(ringPolicySchema)
      .min(1)
      .refine((rings) => new Set(rings.map((r) => r.name)).size === rings.length, 'ring names must be unique')
      .default(defaultRings),
    failureBudget: failureLimitSchema.optional(),
    soak: durationSchema.default(d('0s')),
    healthCheck: z.boolean().default(true),
    windows: maintenanceWindowsSchema.optional(),
    batchDuration: durationSchema.default(d('15m')),
    backup: z.boolean().default(true),
    rollback: z.object({ failedRing: z.boolean().default(true), completedRings: z.boolean().default(false) }).strict().prefault({}),
    reboot: z.enum(['never', 'if-required', 'always']).default('if-required'),
  })
  .strict();

export const cyclePolicySchema = z.object({
  approval: z
    .object({
      quorum: z.coerce.number().int().min(1).max(20).default(1),
      timeout: durationSchema.default(d('72h')),
      remindEvery: durationSchema.default(d('4h')),
      /** Groups whose approvers form the CAB; empty means every user with the approver role. */
      approverGroups: groupListSchema.default([]),
      /** After this the escalation pool is asked too and may decide; must come before the timeout to matter. */
      escalateAfter: durationSchema.default(d('24h')),
      /** Groups asked on escalation; empty means every user with the manager role. */
      escalationGroups: groupListSchema.default([]),
      /** A KEV on an internet-facing tier-1 asset: one approver from these groups suffices, reviewed afterwards. */
      emergency: z.object({ groups: groupListSchema.default(['emergency']), quorum: z.coerce.number().int().min(1).max(20).default(1) }).prefault({}),
    })
    .prefault({}),
  deployment: deploymentPolicySchema.prefault({}),
}) satisfies z.ZodType<CyclePolicy>;

export const settingsSchema = z.object({
  /** Where the embedded database, the demo hosts and connector work files live. */
  dataDir: z.string().min(1).default('.patchflow'),
  /** PostgreSQL URL; unset means the embedded PGlite database under dataDir. */
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
  http: z
    .object({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.coerce.number().int().min(0).max(65535).default(8080),
    })
    .prefault({}),
  policy: cyclePolicySchema.prefault({}),
  /** Largest scanner report `POST /api/scans/import` accepts; reports are streamed, so this bounds time and disk, not memory. */
  scanImportMaxBytes: z.coerce.number().int().min(1).default(4 * 1024 ** 3),
  /** The connector that deploys patches unless a cycle names another. */
  deployer: z.string().min(1).default('ansible'),
  /** Connector settings by connector id; each is parsed by that connector's own schema. */
  connectors: z.record(z.string(), z.unknown()).default({ ansible: {} }),
});

export type Settings = z.infer<typeof settingsSchema> & { temporal: TemporalSettings };

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
      throw new InputError(`cannot read PATCHFLOW_CONFIG ${file}: ${(err as Error).message}`, [{ path: ['PATCHFLOW_CONFIG'], message: 'unreadable or not JSON' }]);
    }
  }
  const httpFile = (fromFile['http'] as Record<string, unknown> | undefined) ?? {};
  const policyFile = (fromFile['policy'] as Record<string, Record<string, unknown>> | undefined) ?? {};
  const connectors = connectorsWithEnv(env, fromFile['connectors']);
  const raw = {
    ...fromFile,
    ...(connectors ? { connectors } : {}),
    ...definedOnly({ dataDir: env['PATCHFLOW_DATA_DIR'], databaseUrl: env['DATABASE_URL'], deployer: env['PATCHFLOW_DEPLOYER'], scanImportMaxBytes: env['PATCHFLOW_SCAN_IMPORT_MAX_BYTES'] }),
    http: { ...httpFile, ...definedOnly({ host: env['PATCHFLOW_HTTP_HOST'], port: env['PATCHFLOW_HTTP_PORT'] }) },
    policy: {
      approval: {
        ...(policyFile['approval'] ?? {}),
        ...definedOnly({
          quorum: env['PATCHFLOW_APPROVAL_QUORUM'],
          timeout: env['PATCHFLOW_APPROVAL_TIMEOUT'],
          remindEvery: env['PATCHFLOW_APPROVAL_REMIND_EVERY'],
          approverGroups: env['PATCHFLOW_APPROVAL_GROUPS'],
          escalateAfter: env['PATCHFLOW_APPROVAL_ESCALATE_AFTER'],
          escalationGroups: env['PATCHFLOW_APPROVAL_ESCALATION_GROUPS'],
        }),
      },
      deployment: { ...(policyFile['deployment'] ?? {}), ...definedOnly({ maxFailedPercent: env['PATCHFLOW_MAX_FAILED_PERCENT'] }) },
    },
  };
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) throw inputErrorFromZod('settings', parsed.error.issues);
  return { ...parsed.data, temporal: loadTemporalSettings(env) };
}
