import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { durationSchema } from '../kernel/duration.ts';
import { InputError } from '../kernel/errors.ts';
import { parseInput } from '../kernel/validate.ts';
import { decisions, missionLevels } from './ssvc.ts';

const d = (text: string) => durationSchema.parse(text);
const points = z.number().min(0).max(100);
const severity = z.enum(['low', 'medium', 'high', 'critical']);
const exposure = z.enum(['internet', 'internal', 'isolated']);
const mission = z.enum(missionLevels as [string, ...string[]]);

const slaRuleSchema = z.object({
  name: z.string().min(1).max(100),
  within: durationSchema,
  /** Look for compromise before patching: exploitation may have preceded the fix. */
  forensicTriage: z.boolean().default(false),
  /** Every stated condition must hold; rules are tried in order and the first match sets the deadline. */
  when: z
    .object({
      kev: z.boolean().optional(),
      minSeverity: severity.optional(),
      exposure: z.array(exposure).min(1).optional(),
      /** Tier 1 is the most critical; `maxTier: 2` matches tiers 1 and 2. */
      maxTier: z.number().int().min(1).max(4).optional(),
      decisions: z
        .array(z.enum(decisions as [string, ...string[]]))
        .min(1)
        .optional(),
      minEpss: z.number().min(0).max(1).optional(),
    })
    .default({}),
});
export type SlaRule = z.output<typeof slaRuleSchema>;

const defaultRules: z.input<typeof slaRuleSchema>[] = [
  { name: 'kev-internet-tier1', within: '72h', when: { kev: true, exposure: ['internet'], maxTier: 1 } },
  {
    name: 'critical-internet-tier1',
    within: '72h',
    when: { minSeverity: 'critical', exposure: ['internet'], maxTier: 1 },
  },
  { name: 'kev', within: '14d', when: { kev: true } },
  { name: 'critical', within: '7d', when: { minSeverity: 'critical' } },
  { name: 'high', within: '30d', when: { minSeverity: 'high' } },
  { name: 'medium', within: '90d', when: { minSeverity: 'medium' } },
  { name: 'low', within: '180d', when: { minSeverity: 'low' } },
];

const rulesSlaSchema = z.object({
  kind: z.literal('rules'),
  rules: z
    .array(slaRuleSchema)
    .min(1)
    .default(defaultRules.map((r) => slaRuleSchema.parse(r))),
});

const bodSlaSchema = z.object({
  kind: z.literal('bod-26-04'),
  timelines: z
    .object({
      urgent: durationSchema.default(d('3d')),
      expedited: durationSchema.default(d('14d')),
      standard: durationSchema.default(d('60d')),
      /** "Fix on system upgrade": no deadline unless one is set here. */
      upgrade: durationSchema.nullable().default(null),
    })
    .prefault({}),
});

/** Everything that ranks findings and sets deadlines; every threshold has a default and can be overridden. */
export const prioritizationPolicySchema = z.object({
  /** Points out of 100: CVSS up to `cvss`, threat up to `kev + ransomware`, asset context up to exposure + tier. */
  weights: z
    .object({
      cvss: points.default(35),
      kev: points.default(30),
      ransomware: points.default(5),
      activeExploitation: points.default(30),
      poc: points.default(15),
      epss: points.default(20),
      epssPercentile: points.default(5),
      exposure: z
        .object({ internet: points.default(15), internal: points.default(7), isolated: points.default(0) })
        .prefault({}),
      tier: z.tuple([points, points, points, points]).default([15, 10, 5, 0]),
    })
    .prefault({}),
  /** A CVSS-like score for scanner findings without a CVE score, by scanner severity 0 (info) … 4 (critical). */
  severityScores: z
    .tuple([
      z.number().min(0).max(10),
      z.number().min(0).max(10),
      z.number().min(0).max(10),
      z.number().min(0).max(10),
      z.number().min(0).max(10),
    ])
    .default([0, 3, 5.5, 8, 9.5]),
  ssvc: z
    .object({
      /** EPSS probability from which exploitation counts as "poc" without other evidence. */
      highEpss: z.number().min(0).max(1).default(0.1),
      /** Mission and well-being impact by asset tier 1…4. */
      missionImpactByTier: z.tuple([mission, mission, mission, mission]).default(['high', 'medium', 'low', 'low']),
      /** Internet-facing assets reach more people when they fail: one level up. */
      internetRaisesImpact: z.boolean().default(true),
      isolatedLowersImpact: z.boolean().default(true),
    })
    .prefault({}),
  sla: z
    .discriminatedUnion('kind', [rulesSlaSchema, bodSlaSchema])
    .default({ kind: 'rules', rules: defaultRules.map((r) => slaRuleSchema.parse(r)) }),
  /** The due-soon view: open findings whose deadline falls within this from now. */
  dueSoon: durationSchema.default(d('72h')),
});
export type PrioritizationPolicy = z.output<typeof prioritizationPolicySchema>;

export const policyPresets = {
  default: prioritizationPolicySchema.parse({}),
  'bod-26-04': prioritizationPolicySchema.parse({ sla: { kind: 'bod-26-04' } }),
} satisfies Record<string, PrioritizationPolicy>;
export type PolicyPreset = keyof typeof policyPresets;

/** The policy the server uses: a JSON file named by PATCHFLOW_PRIORITIZATION_POLICY, or the default preset. */
export function loadPrioritizationPolicy(env: NodeJS.ProcessEnv = process.env): PrioritizationPolicy {
  const file = env['PATCHFLOW_PRIORITIZATION_POLICY'];
  if (!file) return policyPresets.default;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new InputError(`cannot read PATCHFLOW_PRIORITIZATION_POLICY ${file}: ${(err as Error).message}`, [
      { path: ['PATCHFLOW_PRIORITIZATION_POLICY'], message: 'unreadable or not JSON' },
    ]);
  }
  return parseInput(prioritizationPolicySchema, raw, `prioritization policy ${file}`);
}
