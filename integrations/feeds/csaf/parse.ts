import { z } from 'zod';
import { InputError } from '../../../kernel/errors.ts';
import { parseInput } from '../../../kernel/validate.ts';
import type { FeedBatch } from '../batch.ts';
import type { CveFacts } from '../../../db/repositories/cves.ts';
import type { RemediationFacts } from '../../../db/repositories/advisories.ts';
import { feedText, parseJsonText, utcTimestamp } from '../parse.ts';

interface Branch {
  category: string;
  name: string;
  product?: { product_id: string; name: string } | undefined;
  branches?: Branch[] | undefined;
}
const branchSchema: z.ZodType<Branch> = z.lazy(() =>
  z.object({
    category: z.string(),
    name: z.string(),
    product: z.object({ product_id: z.string(), name: z.string() }).optional(),
    branches: z.array(branchSchema).optional(),
  }),
);
const fullProductName = z.object({ product_id: z.string(), name: z.string() });

export const csafDocumentSchema = z.object({
  document: z.object({
    category: z.string(),
    csaf_version: z.literal('2.0'),
    title: z.string().min(1),
    publisher: z.object({ name: z.string(), namespace: z.string() }),
    tracking: z.object({ id: z.string().min(1), initial_release_date: z.string(), current_release_date: z.string() }),
    aggregate_severity: z.object({ text: z.string() }).optional(),
    references: z.array(z.object({ category: z.string().optional(), url: z.string() })).optional(),
  }),
  product_tree: z
    .object({
      branches: z.array(branchSchema).optional(),
      full_product_names: z.array(fullProductName).optional(),
      relationships: z
        .array(z.object({ relates_to_product_reference: z.string(), full_product_name: fullProductName }))
        .optional(),
    })
    .optional(),
  vulnerabilities: z
    .array(
      z.object({
        cve: z.string().optional(),
        scores: z
          .array(
            z.object({
              products: z.array(z.string()),
              cvss_v3: z.object({ vectorString: z.string(), baseScore: z.number() }).optional(),
            }),
          )
          .optional(),
        remediations: z
          .array(
            z.object({
              category: z.string(),
              details: z.string(),
              product_ids: z.array(z.string()).optional(),
              url: z.string().optional(),
            }),
          )
          .optional(),
        threats: z.array(z.object({ category: z.string(), details: z.string() })).optional(),
      }),
    )
    .optional(),
});
type CsafDocument = z.output<typeof csafDocumentSchema>;

interface ProductInfo {
  name: string;
  /** The nearest product_family or product_name branch: "Red Hat Enterprise Linux", "CVRF-CSAF-Converter". */
  platform: string | undefined;
}

/** Every product id of the tree with its name; a relationship product is named by the platform it is part of. */
function products(doc: CsafDocument): Map<string, ProductInfo> {
  const byId = new Map<string, ProductInfo>();
  const walk = (branches: Branch[] | undefined, platform: string | undefined) => {
    for (const b of branches ?? []) {
      const here = b.category === 'product_family' || (b.category === 'product_name' && !platform) ? b.name : platform;
      if (b.product) byId.set(b.product.product_id, { name: b.product.name, platform: here });
      walk(b.branches, here);
    }
  };
  walk(doc.product_tree?.branches, undefined);
  for (const p of doc.product_tree?.full_product_names ?? [])
    byId.set(p.product_id, { name: p.name, platform: byId.get(p.product_id)?.platform });
  for (const r of doc.product_tree?.relationships ?? []) {
    const base = byId.get(r.relates_to_product_reference);
    byId.set(r.full_product_name.product_id, {
      name: base?.name ?? r.full_product_name.name,
      platform: base?.platform,
    });
  }
  return byId;
}

function severityFromScore(score: number): string {
  return score >= 9 ? 'Critical' : score >= 7 ? 'High' : score >= 4 ? 'Medium' : score > 0 ? 'Low' : 'None';
}

/**
 * A CSAF 2.0 advisory → one advisory, and one patch per distinct vendor_fix remediation (named by
 * the advisory id, e.g. RHSA-2022:0011, numbered when an advisory has several fixes), linked to the
 * CVEs whose remediation lists it. Workarounds and mitigations are kept in the advisory's data.
 */
export function parseCsaf(body: Buffer | string): FeedBatch {
  const doc = parseInput(
    csafDocumentSchema,
    parseJsonText(feedText(body, 'CSAF document'), 'CSAF document'),
    'CSAF document',
  );
  const { tracking } = doc.document;
  const byId = products(doc);
  const vulns = doc.vulnerabilities ?? [];
  const badCve = vulns.findIndex((v) => v.cve !== undefined && !/^CVE-\d{4}-\d{4,}$/.test(v.cve));
  if (badCve >= 0)
    throw new InputError(`CSAF vulnerabilities.${badCve}.cve is not a CVE id`, [
      { path: ['vulnerabilities', badCve, 'cve'], message: 'a CVE id such as CVE-2024-3094' },
    ]);

  const cves: CveFacts[] = [];
  const fixes = new Map<
    string,
    { details: string; url: string | undefined; productIds: Set<string>; cves: Set<string> }
  >();
  let topScore = 0;
  for (const v of vulns) {
    const score = v.scores?.find((s) => s.cvss_v3)?.cvss_v3;
    if (score) topScore = Math.max(topScore, score.baseScore);
    if (v.cve) cves.push({ id: v.cve, cvssV3Vector: score?.vectorString, cvssV3Score: score?.baseScore });
    for (const r of v.remediations ?? []) {
      if (r.category !== 'vendor_fix') continue;
      const key = r.url ?? r.details;
      const fix = fixes.get(key) ?? {
        details: r.details,
        url: r.url,
        productIds: new Set<string>(),
        cves: new Set<string>(),
      };
      for (const id of r.product_ids ?? []) fix.productIds.add(id);
      if (v.cve) fix.cves.add(v.cve);
      fixes.set(key, fix);
    }
  }

  const severity = doc.document.aggregate_severity?.text ?? (topScore > 0 ? severityFromScore(topScore) : undefined);
  const remediations: RemediationFacts[] = [...fixes.values()].map((fix, i) => {
    const infos = [...fix.productIds].map((id) => byId.get(id));
    const names = [...new Set(infos.map((p) => p?.name).filter((n) => n !== undefined))];
    return {
      vendorRef: fixes.size === 1 ? tracking.id : `${tracking.id}/${i + 1}`,
      title: doc.document.title,
      product: names.slice(0, 20).join('; ') + (names.length > 20 ? `; … ${names.length - 20} more` : ''),
      platform: infos.find((p) => p?.platform)?.platform,
      url: fix.url,
      cves: [...fix.cves],
      classification: 'Security Update',
      severity,
      releasedAt: utcTimestamp(tracking.initial_release_date)?.slice(0, 10),
    };
  });
  const self = doc.document.references?.find((r) => r.category === 'self')?.url;
  return {
    cves,
    advisories: [
      {
        id: tracking.id,
        source: 'csaf',
        vendor: doc.document.publisher.name,
        title: doc.document.title,
        severity,
        published: utcTimestamp(tracking.initial_release_date),
        url: self,
        cves: cves.map((c) => c.id),
        remediations,
        data: {
          publisherNamespace: doc.document.publisher.namespace,
          currentReleaseDate: tracking.current_release_date,
          otherRemediations: vulns.flatMap((v) =>
            (v.remediations ?? [])
              .filter((r) => r.category !== 'vendor_fix')
              .map((r) => ({ cve: v.cve, category: r.category, details: r.details })),
          ),
        },
      },
    ],
  };
}
