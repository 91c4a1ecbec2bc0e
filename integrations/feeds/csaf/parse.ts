import { z } from 'zod';
import { InputError } from '../../../kernel/errors.ts';
import { parseInput } from '../../../kernel/validate.ts';
import type { FeedBatch } from '../batch.ts';
import type { CveFacts } from '../../../db/repositories/cves.ts';
import type { PatchApplicability, RemediationFacts } from '../../../db/repositories/advisories.ts';
import { vendorProductKey } from '../../../prioritization/products.ts';
import { evrText, isOlder, parseNevra, type Nevra } from '../../../prioritization/versions.ts';
import { classificationOf, platformOf } from '../../../prioritization/vocabulary.ts';
import { feedText, parseJsonText, utcTimestamp } from '../parse.ts';

const fullProductName = z.object({
  product_id: z.string(),
  name: z.string(),
  product_identification_helper: z.object({ cpe: z.string().optional(), purl: z.string().optional() }).optional(),
});
type FullProductName = z.output<typeof fullProductName>;
interface Branch {
  category: string;
  name: string;
  product?: FullProductName | undefined;
  branches?: Branch[] | undefined;
}
const branchSchema: z.ZodType<Branch> = z.lazy(() =>
  z.object({
    category: z.string(),
    name: z.string(),
    product: fullProductName.optional(),
    branches: z.array(branchSchema).optional(),
  }),
);

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
        .array(
          z.object({
            category: z.string().optional(),
            product_reference: z.string().optional(),
            relates_to_product_reference: z.string(),
            full_product_name: fullProductName,
          }),
        )
        .optional(),
    })
    .optional(),
  vulnerabilities: z
    .array(
      z.object({
        cve: z.string().optional(),
        product_status: z
          .object({ fixed: z.array(z.string()).optional(), known_affected: z.array(z.string()).optional() })
          .optional(),
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
  cpe?: string | undefined;
  /** For a package on a platform (a relationship): the package and its version. */
  pkg?: Nevra | undefined;
}

/** `pkg:rpm/redhat/telnet@0.17-65.el7_6?arch=x86_64&epoch=1` → the package it names. */
function purlPackage(purl: string | undefined): Nevra | undefined {
  const m = /^pkg:(?:rpm|deb|apk)\/[^/]+\/([^@?#]+)@([^?#]+)(?:\?([^#]*))?/.exec(purl ?? '');
  if (!m) return undefined;
  const query = new URLSearchParams(m[3] ?? '');
  const version = decodeURIComponent(m[2]!);
  const dash = version.lastIndexOf('-');
  return {
    name: decodeURIComponent(m[1]!),
    arch: query.get('arch') ?? '',
    epoch: query.get('epoch') ?? '0',
    version: dash > 0 ? version.slice(0, dash) : version,
    release: dash > 0 ? version.slice(dash + 1) : '',
  };
}

/** The package a product names, from its purl or else its name (Red Hat names packages as NEVRA). */
const packageOf = (p: FullProductName | undefined): Nevra | undefined =>
  p ? (purlPackage(p.product_identification_helper?.purl) ?? parseNevra(p.name)) : undefined;

/**
 * Every product id of the tree with its name; a relationship product (a package as a component of
 * a platform) is named by the platform and carries the package.
 */
function products(doc: CsafDocument): Map<string, ProductInfo> {
  const byId = new Map<string, ProductInfo>();
  const packages = new Map<string, FullProductName>();
  const walk = (branches: Branch[] | undefined, platform: string | undefined) => {
    for (const b of branches ?? []) {
      const here = b.category === 'product_family' || (b.category === 'product_name' && !platform) ? b.name : platform;
      if (b.product) {
        byId.set(b.product.product_id, {
          name: b.product.name,
          platform: here,
          cpe: b.product.product_identification_helper?.cpe,
        });
        if (b.category === 'product_version') packages.set(b.product.product_id, b.product);
      }
      walk(b.branches, here);
    }
  };
  walk(doc.product_tree?.branches, undefined);
  for (const p of doc.product_tree?.full_product_names ?? [])
    byId.set(p.product_id, {
      name: p.name,
      platform: byId.get(p.product_id)?.platform,
      cpe: p.product_identification_helper?.cpe ?? byId.get(p.product_id)?.cpe,
    });
  for (const r of doc.product_tree?.relationships ?? []) {
    const base = byId.get(r.relates_to_product_reference);
    const component = r.product_reference ? packages.get(r.product_reference) : undefined;
    byId.set(r.full_product_name.product_id, {
      name: base?.name ?? r.full_product_name.name,
      platform: base?.platform,
      cpe: base?.cpe,
      pkg: packageOf(component),
    });
  }
  return byId;
}

/** What a fixed product id means for applicability: the platform, and the package at its fixed version. */
function applicability(info: ProductInfo | undefined): PatchApplicability | undefined {
  if (!info) return undefined;
  // Source packages are never installed; the binary packages built from them are listed beside them.
  if (info.pkg?.arch === 'src') return undefined;
  return {
    product: vendorProductKey(info.name, info.cpe),
    productName: info.name,
    package: info.pkg?.name,
    arch: info.pkg && info.pkg.arch !== 'noarch' ? info.pkg.arch : undefined,
    fixedVersion: info.pkg ? evrText(info.pkg) : undefined,
  };
}

/**
 * One row per product × package × arch. Extended streams of one release (RHEL 8.6 EUS, 8.8 EUS)
 * share a product and may fix at different versions; the highest counts, so that no host of the
 * release is left below any stream's fix.
 */
function highestFixPerPackage(applies: PatchApplicability[]): PatchApplicability[] {
  const byKey = new Map<string, PatchApplicability>();
  for (const a of applies) {
    const key = `${a.product}\u0000${a.package ?? ''}\u0000${a.arch ?? ''}`;
    const kept = byKey.get(key);
    if (!kept || (a.fixedVersion && kept.fixedVersion && isOlder(kept.fixedVersion, a.fixedVersion))) byKey.set(key, a);
  }
  return [...byKey.values()];
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
      // A fix that names no products fixes what the vulnerability lists as fixed.
      for (const id of r.product_ids ?? v.product_status?.fixed ?? []) fix.productIds.add(id);
      if (v.cve) fix.cves.add(v.cve);
      fixes.set(key, fix);
    }
  }

  const severity = doc.document.aggregate_severity?.text ?? (topScore > 0 ? severityFromScore(topScore) : undefined);
  const remediations: RemediationFacts[] = [...fixes.values()].map((fix, i) => {
    const infos = [...fix.productIds].map((id) => byId.get(id));
    const names = [...new Set(infos.map((p) => p?.name).filter((n) => n !== undefined))];
    const applies = [...fix.productIds].map((id) => applicability(byId.get(id))).filter((a) => a !== undefined);
    return {
      vendorRef: fixes.size === 1 ? tracking.id : `${tracking.id}/${i + 1}`,
      applies: highestFixPerPackage(applies),
      title: doc.document.title,
      product: names.slice(0, 20).join('; ') + (names.length > 20 ? `; … ${names.length - 20} more` : ''),
      platform: platformOf(...infos.map((p) => p?.platform)),
      url: fix.url,
      cves: [...fix.cves],
      classification: classificationOf('vendor_fix'),
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
