import { z } from 'zod';
import { durationMs, durationSchema } from '../kernel/duration.ts';
import type { CyclePolicy } from '../workflows/types.ts';
import { isValidTimeZone } from '../workflows/windows.ts';

const d = (text: string) => durationSchema.parse(text);
/** Group names as a list, or comma-separated as environment variables carry them. */
const groupListSchema = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean)
      : v,
  z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a group name (lower-case letters, digits and . _ -)')),
);

const failureLimitSchema = z.union([
  z.object({ count: z.number().int().min(0) }).strict(),
  z.object({ percent: z.number().min(0).max(100) }).strict(),
]);

/** Criticality tiers map to rings least critical first, as scoping placed them before rings were configurable. */
const defaultRings = [
  { name: 'test', criticality: [4], maxConcurrency: 10 },
  { name: 'pilot', criticality: [3], maxConcurrency: 25 },
  { name: 'broad', criticality: [2], maxConcurrency: 100 },
  { name: 'critical', criticality: [1], maxConcurrency: 25 },
];

const ringPolicySchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, 'a ring name (lower-case letters, digits, _ and -)')
      .refine((n) => n !== 'staging', 'staging is the testing group, not a ring'),
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

const checkName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a check name (lower-case letters, digits, _ and -)');
/** `{hostname}` and `{address}` in a URL or command are the staging host's. */
const httpProbeSchema = z
  .object({
    url: z.string().url(),
    /** Answers with any of these statuses pass; default any 2xx. */
    expectStatus: z.array(z.number().int().min(100).max(599)).min(1).optional(),
    /** The body must contain this text. */
    contains: z.string().min(1).optional(),
  })
  .strict();
const functionalCheckSchema = z.union([
  z.object({ name: checkName, http: httpProbeSchema, timeout: durationSchema.default(d('10s')) }).strict(),
  z
    .object({
      name: checkName,
      /** Run on the worker's machine, per staging host; exit 0 passes (e.g. `ansible-playbook --check --limit {hostname} app-check.yml`). */
      command: z.array(z.string().min(1)).min(1),
      timeout: durationSchema.default(d('5m')),
    })
    .strict(),
]);
const performanceCheckSchema = z
  .object({
    name: checkName,
    http: httpProbeSchema.pick({ url: true }),
    /** Requests per measurement; the median is compared. */
    samples: z.number().int().min(1).max(50).default(5),
    /** Slower than this share over the baseline measured before the patch fails the check. */
    maxSlowdownPercent: z.number().min(0).max(1000).default(20),
    /** A slowdown of no more than this many milliseconds is measurement noise, whatever its share. */
    toleranceMs: z.number().min(0).max(60_000).default(5),
    timeout: durationSchema.default(d('10s')),
  })
  .strict();
/** What the staging group must pass before the CAB is asked: functional and performance checks after a soak. */
export const stagingChecksSchema = z
  .object({
    soak: durationSchema.default(d('0s')),
    functional: z.array(functionalCheckSchema).default([]),
    performance: z.array(performanceCheckSchema).default([]),
  })
  .strict()
  .refine(
    (c) =>
      new Set([...c.functional, ...c.performance].map((x) => x.name)).size ===
      c.functional.length + c.performance.length,
    'check names must be unique',
  );

export const deploymentPolicySchema = z
  .object({
    maxFailedPercent: z.coerce.number().min(0).max(100).default(20),
    rings: z
      .array(ringPolicySchema)
      .min(1)
      .refine((rings) => new Set(rings.map((r) => r.name)).size === rings.length, 'ring names must be unique')
      .default(defaultRings),
    minSample: z.coerce.number().int().min(1).max(10_000).default(10),
    failureBudget: failureLimitSchema.optional(),
    soak: durationSchema.default(d('0s')),
    healthCheck: z.boolean().default(true),
    windows: maintenanceWindowsSchema.optional(),
    batchDuration: durationSchema.default(d('15m')),
    backup: z.boolean().default(true),
    rollback: z
      .object({ failedRing: z.boolean().default(true), completedRings: z.boolean().default(false) })
      .strict()
      .prefault({}),
    reboot: z.enum(['never', 'if-required', 'always']).default('if-required'),
    stagingChecks: stagingChecksSchema.optional(),
  })
  .strict();

export const cyclePolicySchema = z.object({
  approval: z
    .object({
      quorum: z.coerce.number().int().min(1).max(20).default(1),
      timeout: durationSchema.default(d('72h')),
      remindEvery: durationSchema
        .refine((t) => durationMs(t) >= 1000, 'at least 1s: reminders without a pause would flood the channel')
        .default(d('4h')),
      /** Reminders stop after this many: a gate's history stays far below Temporal's event limit. */
      maxReminders: z.coerce.number().int().min(0).max(100).default(12),
      /** Groups whose approvers form the CAB; empty means every user with the approver role. */
      approverGroups: groupListSchema.default([]),
      /** After this the escalation pool is asked too and may decide; must come before the timeout to matter. */
      escalateAfter: durationSchema.default(d('24h')),
      /** Groups asked on escalation; empty means every user with the manager role. */
      escalationGroups: groupListSchema.default([]),
      /** A KEV on an internet-facing tier-1 asset: one approver from these groups suffices, reviewed afterwards. */
      emergency: z
        .object({
          groups: groupListSchema.default(['emergency']),
          quorum: z.coerce.number().int().min(1).max(20).default(1),
        })
        .prefault({}),
    })
    .prefault({}),
  deployment: deploymentPolicySchema.prefault({}),
}) satisfies z.ZodType<CyclePolicy>;
