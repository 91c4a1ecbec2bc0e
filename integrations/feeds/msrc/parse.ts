import { InputError } from '../../../kernel/errors.ts';
import type { FeedBatch } from '../batch.ts';
import type { CveFacts } from '../../../db/repositories/cves.ts';
import type { PatchApplicability, RemediationFacts } from '../../../db/repositories/advisories.ts';
import { vendorProductKey } from '../../../prioritization/products.ts';
import { classificationOf, platformOf } from '../../../prioritization/vocabulary.ts';
import { child, childText, children, feedText, parseXml, utcTimestamp, type XmlElement } from '../parse.ts';

const severityRank: Record<string, number> = { Low: 1, Moderate: 2, Important: 3, Critical: 4 };
const higherSeverity = (a: string | undefined, b: string | undefined) =>
  (severityRank[b ?? ''] ?? 0) > (severityRank[a ?? ''] ?? 0) ? b : a;

interface Product {
  name: string;
  /** MSRC's product family branch: Windows, Microsoft Office, Browser, ESU… — what the patch platform is read from. */
  family: string | undefined;
}

function productTree(root: XmlElement): Map<string, Product> {
  const products = new Map<string, Product>();
  const walk = (el: XmlElement, family: string | undefined) => {
    for (const c of el.children) {
      if (c.name === 'Branch') walk(c, c.attrs['Type'] === 'Product Family' ? c.attrs['Name'] : family);
      // MSRC lists every product again flat after the branches; the flat entry must not lose the family.
      else if (c.name === 'FullProductName' && c.attrs['ProductID']) {
        const id = c.attrs['ProductID'];
        products.set(id, { name: c.text.trim(), family: family ?? products.get(id)?.family });
      }
    }
  };
  const tree = child(root, 'ProductTree');
  if (tree) walk(tree, undefined);
  return products;
}

const productIds = (el: XmlElement) => children(el, 'ProductID').map((p) => p.text.trim());

interface PatchAccumulator {
  fix: RemediationFacts & { cves: string[]; applies: PatchApplicability[]; supersedes: string[] };
  products: Set<string>;
  families: Set<string>;
  /** MSRC's SubType: "Security Update", "Monthly Rollup", "Windows Update"… */
  subType: string | undefined;
}

/** A FixedBuild is a build number for Windows; for Click-to-Run Office it is a link to the builds page instead. */
const isBuild = (text: string | undefined): text is string => !!text && /^\d+(\.\d+)+$/.test(text);

/** MSRC's `Supercedence` (sic) names the KBs replaced, by number, comma- or semicolon-separated. */
const supersededKbs = (text: string | undefined): string[] =>
  (text ?? '')
    .split(/[,;\s]+/)
    .filter((kb) => /^\d{6,8}$/.test(kb))
    .map((kb) => `KB${kb}`);

/**
 * An MSRC CVRF 1.1 document (one monthly release, prefixed or default-namespaced) → one advisory,
 * its KBs as patches linked to exactly the CVEs each KB fixes, and the CVSS MSRC states per CVE.
 * A patch's release date is the earliest own release of the CVEs it fixes, not the document's.
 */
export function parseCvrf(body: Buffer | string): {
  documentId: string;
  changedAt: string | undefined;
  batch: FeedBatch;
} {
  const root = parseXml(feedText(body, 'MSRC CVRF document'), 'MSRC CVRF document');
  if (root.name !== 'cvrfdoc')
    throw new InputError(`MSRC CVRF document has root <${root.name}>, expected <cvrfdoc>`, [
      { path: ['cvrfdoc'], message: 'wrong root element' },
    ]);
  const tracking = child(root, 'DocumentTracking');
  const documentId = childText(tracking ? child(tracking, 'Identification') : undefined, 'ID');
  if (!documentId)
    throw new InputError('MSRC CVRF document has no DocumentTracking/Identification/ID', [
      { path: ['DocumentTracking', 'Identification', 'ID'], message: 'required' },
    ]);
  const title = childText(root, 'DocumentTitle') ?? documentId;
  const published = utcTimestamp(childText(tracking, 'InitialReleaseDate'));
  const changedAt = utcTimestamp(childText(tracking, 'CurrentReleaseDate'));
  const products = productTree(root);

  const cves: CveFacts[] = [];
  const perCve: Record<
    string,
    {
      title?: string | undefined;
      severity?: string | undefined;
      impact?: string | undefined;
      exploitStatus?: string | undefined;
    }
  > = {};
  const patches = new Map<string, PatchAccumulator>();
  let docSeverity: string | undefined;

  children(root, 'Vulnerability').forEach((vuln, index) => {
    const cve = childText(vuln, 'CVE');
    if (!cve)
      throw new InputError(`MSRC CVRF Vulnerability #${index + 1} has no <CVE>`, [
        { path: ['Vulnerability', index, 'CVE'], message: 'required' },
      ]);
    const threats = children(child(vuln, 'Threats'), 'Threat');
    const severityByProduct = new Map<string, string>();
    let severity: string | undefined;
    for (const t of threats.filter((t) => t.attrs['Type'] === 'Severity')) {
      const s = childText(t, 'Description');
      if (!s) continue;
      severity = higherSeverity(severity, s);
      for (const p of productIds(t)) severityByProduct.set(p, s);
    }
    docSeverity = higherSeverity(docSeverity, severity);
    const exploitStatus = childText(
      threats.find((t) => t.attrs['Type'] === 'Exploit Status'),
      'Description',
    );
    perCve[cve] = {
      title: childText(vuln, 'Title'),
      severity,
      impact: childText(
        threats.find((t) => t.attrs['Type'] === 'Impact'),
        'Description',
      ),
      exploitStatus,
    };

    // Each CVE has its own release (Edge and Chromium fixes come out between Patch Tuesdays): its first revision.
    const revisionDates = children(child(vuln, 'RevisionHistory'), 'Revision')
      .map((r) => utcTimestamp(childText(r, 'Date')))
      .filter((d): d is string => d !== undefined)
      .sort();
    const releasedOn = (revisionDates[0] ?? published)?.slice(0, 10);
    const scoreSet = child(child(vuln, 'CVSSScoreSets') ?? vuln, 'ScoreSet');
    const vector = childText(scoreSet, 'Vector');
    const baseScore = Number(childText(scoreSet, 'BaseScore'));
    cves.push({
      id: cve,
      description: childText(vuln, 'Title'),
      cvssV3Vector: vector?.startsWith('CVSS:3.') ? vector : undefined,
      cvssV3Score: vector?.startsWith('CVSS:3.') && Number.isFinite(baseScore) ? baseScore : undefined,
      exploitEvidence: /Exploited:Yes/i.test(exploitStatus ?? '') ? 'active' : undefined,
    });

    for (const rem of children(child(vuln, 'Remediations'), 'Remediation').filter(
      (r) => r.attrs['Type'] === 'Vendor Fix',
    )) {
      const description = childText(rem, 'Description') ?? '';
      const fixedBuild = childText(rem, 'FixedBuild');
      const build = isBuild(fixedBuild) ? fixedBuild : undefined;
      const subType = childText(rem, 'SubType');
      const ids = productIds(rem);
      // A KB number names the update; Edge fixes are named by product and build, Click-to-Run ones
      // by product and release, with the link to Microsoft's list of fixed builds as their URL.
      const refs = /^\d{6,8}$/.test(description)
        ? [{ ref: `KB${description}`, ids }]
        : build
          ? ids.map((id) => ({ ref: `${products.get(id)?.name ?? id} ${build}`, ids: [id] }))
          : fixedBuild
            ? ids.map((id) => ({
                ref: `${products.get(id)?.name ?? id} (${description || 'update'}, ${documentId})`,
                ids: [id],
              }))
            : [];
      for (const { ref, ids: refIds } of refs) {
        const acc = patches.get(ref) ?? {
          fix: {
            vendorRef: ref,
            title: '',
            cves: [],
            url: build || !fixedBuild ? childText(rem, 'URL') : fixedBuild,
            classification: classificationOf(subType),
            targetVersion: build,
            releasedAt: releasedOn,
            applies: [],
            supersedes: [],
            hotpatch: subType === 'Security Hotpatch Update',
          },
          products: new Set<string>(),
          families: new Set<string>(),
          subType,
        };
        if (!acc.fix.cves.includes(cve)) acc.fix.cves.push(cve);
        for (const kb of supersededKbs(childText(rem, 'Supercedence') ?? childText(rem, 'Supersedence')))
          if (!acc.fix.supersedes.includes(kb)) acc.fix.supersedes.push(kb);
        // The same KB covers several products, each at its own fixed build (Windows 10 21H2 and 22H2).
        for (const id of refIds) {
          const name = products.get(id)?.name ?? id;
          const product = vendorProductKey(name);
          if (!acc.fix.applies.some((a) => a.product === product && a.fixedVersion === build))
            acc.fix.applies.push({ product, productName: name, fixedVersion: build });
        }
        // An update is out as soon as the earliest CVE it fixes was released.
        if (releasedOn && (!acc.fix.releasedAt || releasedOn < acc.fix.releasedAt)) acc.fix.releasedAt = releasedOn;
        for (const id of refIds) {
          const p = products.get(id);
          acc.products.add(p?.name ?? id);
          if (p?.family) acc.families.add(p.family);
          acc.fix.severity = higherSeverity(acc.fix.severity, severityByProduct.get(id) ?? severity);
        }
        patches.set(ref, acc);
      }
    }
  });

  const remediations = [...patches.values()].map(({ fix, products: names, families, subType }) => ({
    ...fix,
    // MSRC's own word stays in the title: "2023-Dec Monthly Rollup KB5033420".
    title: `${documentId} ${subType ?? 'Update'} ${fix.vendorRef}`,
    product: [...names].join('; '),
    platform: platformOf(...names, subType, ...families),
  }));
  return {
    documentId,
    changedAt,
    batch: {
      cves,
      advisories: [
        {
          id: `MSRC-${documentId}`,
          source: 'msrc',
          vendor: 'Microsoft',
          title,
          severity: docSeverity,
          published,
          url: `https://msrc.microsoft.com/update-guide/releaseNote/${documentId}`,
          cves: cves.map((c) => c.id),
          remediations,
          data: { documentId, currentReleaseDate: changedAt, vulnerabilities: perCve },
        },
      ],
    },
  };
}
