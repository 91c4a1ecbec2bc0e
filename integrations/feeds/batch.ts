import { z } from 'zod';
import type { AdvisoryFacts, RemediationFacts } from '../../db/repositories/advisories.ts';
import type { CveFacts } from '../../db/repositories/cves.ts';
import { scoreCvss4 } from '../../prioritization/cvss40.ts';
import { InputError } from '../../kernel/errors.ts';

/**
 * What a feed hands the database, checked again at that edge: a connector is code we ship, but it
 * turns bytes from the internet into rows, and a bug there must fail loudly rather than store junk.
 * Feeds may state more than the role contract requires (exploitation evidence, patch details);
 * these schemas carry those optional fields through.
 */
export const cveIdSchema = z.string().regex(/^CVE-\d{4}-\d{4,}$/, 'a CVE id such as CVE-2024-3094');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date such as 2024-05-01');
const timestamp = z.iso.datetime({ offset: true });
const score = z.number().min(0).max(10);
const probability = z.number().min(0).max(1);

/**
 * A v4.0 vector stated without a score gets the score it defines, which prioritization ranks by.
 * A score stated with the vector is the publisher's record and stays as stated, even where it differs.
 */
function withCvssV4Score<T extends Pick<CveFacts, 'cvssV4Vector' | 'cvssV4Score'>>(cve: T, ctx: z.RefinementCtx<T>): T {
  if (cve.cvssV4Vector === undefined || cve.cvssV4Score !== undefined) return cve;
  try {
    return { ...cve, cvssV4Score: scoreCvss4(cve.cvssV4Vector) };
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    ctx.addIssue({ code: 'custom', path: ['cvssV4Vector'], message: err.message });
    return z.NEVER;
  }
}

export const cveFactsSchema = z
  .object({
    id: cveIdSchema,
    description: z.string().optional(),
    published: timestamp.optional(),
    lastModified: timestamp.optional(),
    cvssV3Vector: z
      .string()
      .regex(/^CVSS:3\.[01]\//, 'a CVSS:3.x vector')
      .optional(),
    cvssV3Score: score.optional(),
    cvssV4Vector: z
      .string()
      .regex(/^CVSS:4\.0\//, 'a CVSS:4.0 vector')
      .optional(),
    cvssV4Score: score.optional(),
    epss: probability.optional(),
    epssPercentile: probability.optional(),
    epssDate: isoDate.optional(),
    kev: z
      .object({
        dateAdded: isoDate,
        dueDate: isoDate.optional(),
        ransomware: z.boolean(),
        notes: z.string().optional(),
      })
      .optional(),
    exploitEvidence: z.enum(['poc', 'active']).optional(),
    cisaSsvc: z.object({ automatable: z.boolean().optional(), totalImpact: z.boolean().optional() }).optional(),
  })
  .transform(withCvssV4Score) satisfies z.ZodType<CveFacts>;

const remediationFactsSchema = z.object({
  vendorRef: z.string().min(1).max(200),
  title: z.string().min(1),
  product: z.string().optional(),
  url: z.string().optional(),
  cves: z.array(cveIdSchema).optional(),
  classification: z.string().optional(),
  severity: z.string().optional(),
  platform: z.string().optional(),
  targetVersion: z.string().optional(),
  releasedAt: isoDate.optional(),
  applies: z
    .array(
      z.object({
        product: z.string().min(1).max(200),
        productName: z.string().min(1).max(500),
        package: z.string().min(1).max(200).optional(),
        arch: z.string().max(50).optional(),
        fixedVersion: z.string().min(1).max(200).regex(/\d/, 'a version or build').optional(),
      }),
    )
    .optional(),
  supersedes: z.array(z.string().min(1).max(200)).optional(),
  hotpatch: z.boolean().optional(),
}) satisfies z.ZodType<RemediationFacts>;

export const advisoryFactsSchema = z.object({
  id: z.string().min(1).max(200),
  source: z.string().min(1),
  vendor: z.string().optional(),
  title: z.string().min(1),
  severity: z.string().optional(),
  published: timestamp.optional(),
  url: z.string().optional(),
  cves: z.array(cveIdSchema),
  remediations: z.array(remediationFactsSchema),
  data: z.record(z.string(), z.unknown()),
}) satisfies z.ZodType<AdvisoryFacts>;

export const feedBatchSchema = z.object({
  cves: z.array(cveFactsSchema),
  advisories: z.array(advisoryFactsSchema),
  /** The batch is the whole KEV catalogue: a CVE it no longer lists is no longer known exploited. */
  replacesKevCatalog: z.literal(true).optional(),
});
export type FeedBatch = z.output<typeof feedBatchSchema>;
