import { z } from 'zod';
import { durationMs, durationSchema } from '../kernel/duration.ts';
import { classificationSchema, platformOf, platforms, vocabularyNameSchema } from './vocabulary.ts';

/**
 * Patch baselines: per-platform auto-approval, as WSUS and Intune approval rules do it. A patch is
 * approved when an explicit list says so, or when a rule covering its classification and severity
 * has waited its delay since release. An explicit reject always wins.
 */

const severityRanks: Record<string, number> = { low: 1, moderate: 2, medium: 2, important: 3, high: 3, critical: 4 };
export const baselineSeveritySchema = z.enum(['low', 'moderate', 'important', 'critical']);

export const baselineRuleSchema = z.object({
  /** WSUS classifications this rule covers (prioritization/vocabulary.ts), e.g. "Security Updates"; absent covers all. */
  classifications: z.array(classificationSchema).min(1).optional(),
  /** Lowest vendor severity covered; High and Medium (CSAF) count as Important and Moderate. */
  minSeverity: baselineSeveritySchema.optional(),
  /** How long after release the patch is approved, e.g. "7d"; "0d" approves on release. */
  approveAfter: durationSchema,
});

export const baselineSchema = z.object({
  id: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dots, dashes and underscores'),
  /** A platform of the vocabulary (windows, linux, macos), matched case-insensitively; "*" matches every platform. */
  platform: vocabularyNameSchema('platform', [...platforms, '*'], platformOf),
  rules: z.array(baselineRuleSchema).default([]),
  /** Patch ids or vendor references (KB5033371, RHSA-2022:0011) approved whatever the rules say. */
  approve: z.array(z.string().trim().min(1)).default([]),
  /** Patch ids or vendor references never approved, even when listed in `approve`. */
  reject: z.array(z.string().trim().min(1)).default([]),
});
export type Baseline = z.output<typeof baselineSchema>;

export interface BaselinePatch {
  id: string;
  vendorRef: string;
  classification?: string | null | undefined;
  severity?: string | null | undefined;
  platform?: string | null | undefined;
  /** Release date (YYYY-MM-DD or ISO timestamp). */
  releasedAt?: string | null | undefined;
}

export interface BaselineVerdict {
  approved: boolean;
  reason: string;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const coversPlatform = (baseline: Baseline, patch: BaselinePatch) =>
  baseline.platform === '*' || baseline.platform.toLowerCase() === (patch.platform ?? '').toLowerCase();
const listedIn = (list: string[], patch: BaselinePatch) =>
  list.some((x) => [patch.id, patch.vendorRef].some((n) => n.toLowerCase() === x.toLowerCase()));

export function evaluateBaseline(patch: BaselinePatch, baseline: Baseline, now: Date): BaselineVerdict {
  const listed = (list: string[]) => listedIn(list, patch);
  if (!coversPlatform(baseline, patch)) {
    return {
      approved: false,
      reason: `baseline ${baseline.id} is for ${baseline.platform}, ${patch.id} is for ${patch.platform ?? 'an unknown platform'}`,
    };
  }
  if (listed(baseline.reject))
    return { approved: false, reason: `${patch.id} is on the reject list of baseline ${baseline.id}` };
  if (listed(baseline.approve))
    return { approved: true, reason: `${patch.id} is on the approve list of baseline ${baseline.id}` };

  const severity = severityRanks[(patch.severity ?? '').toLowerCase()] ?? 0;
  const classification = (patch.classification ?? '').toLowerCase();
  const index = baseline.rules.findIndex(
    (r) =>
      (!r.classifications || r.classifications.some((c) => c.toLowerCase() === classification)) &&
      (!r.minSeverity || severity >= (severityRanks[r.minSeverity] ?? 0)),
  );
  const rule = baseline.rules[index];
  if (!rule) {
    return {
      approved: false,
      reason: `no rule of baseline ${baseline.id} covers ${patch.classification ?? 'unclassified'} patches of ${patch.severity ?? 'unknown'} severity`,
    };
  }
  const released = patch.releasedAt ? Date.parse(patch.releasedAt) : Number.NaN;
  const ruleName = `rule ${index + 1} (${rule.classifications?.join(', ') ?? 'any classification'}${rule.minSeverity ? `, ${rule.minSeverity} or worse` : ''}, ${rule.approveAfter} after release)`;
  if (Number.isNaN(released))
    return { approved: false, reason: `${ruleName} applies, but the release date of ${patch.id} is unknown` };
  const approveAt = released + durationMs(rule.approveAfter);
  return now.getTime() >= approveAt
    ? {
        approved: true,
        reason: `approved by ${ruleName}: released ${day(released)}, approvable since ${day(approveAt)}`,
      }
    : { approved: false, reason: `${ruleName} approves it on ${day(approveAt)} (released ${day(released)})` };
}

/**
 * The verdict of every baseline covering the patch's platform taken together: a reject list wins
 * over everything, then any approval; without an approval the first covering baseline says why.
 */
export function decidePatch(patch: BaselinePatch, baselines: Baseline[], now: Date): BaselineVerdict {
  const covering = baselines.filter((b) => coversPlatform(b, patch));
  if (covering.length === 0)
    return {
      approved: false,
      reason: `no baseline covers the ${patch.platform ?? 'unknown'} platform; name ${patch.id} explicitly to include it`,
    };
  const rejecting = covering.find((b) => listedIn(b.reject, patch));
  if (rejecting) return evaluateBaseline(patch, rejecting, now);
  const verdicts = covering.map((b) => evaluateBaseline(patch, b, now));
  return verdicts.find((v) => v.approved) ?? verdicts[0]!;
}
