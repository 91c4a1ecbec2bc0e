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
