import { z } from 'zod';
import { InputError } from '../../../kernel/errors.ts';
import { parseInput } from '../../../kernel/validate.ts';
import { cveIdSchema, type FeedBatch } from '../batch.ts';
import type { CveFacts } from '../../../db/repositories/cves.ts';
import { feedText, parseJsonText, utcTimestamp } from '../parse.ts';

const cvssData = z.object({ vectorString: z.string(), baseScore: z.number().min(0).max(10) });
const nvdMetric = z.object({ source: z.string().optional(), type: z.string().optional(), cvssData });

const nvdCveSchema = z.object({
  id: cveIdSchema,
  published: z.string(),
  lastModified: z.string(),
  vulnStatus: z.string().optional(),
  descriptions: z.array(z.object({ lang: z.string(), value: z.string() })).default([]),
  metrics: z
    .object({
      cvssMetricV31: z.array(nvdMetric).optional(),
      cvssMetricV30: z.array(nvdMetric).optional(),
      cvssMetricV40: z.array(nvdMetric).optional(),
    })
    .optional(),
  references: z.array(z.object({ url: z.string(), tags: z.array(z.string()).optional() })).default([]),
  cisaExploitAdd: z.string().optional(),
});

export const nvdPageSchema = z.object({
  resultsPerPage: z.number().int().min(0),
  startIndex: z.number().int().min(0),
  totalResults: z.number().int().min(0),
  format: z.literal('NVD_CVE'),
  version: z.string(),
  timestamp: z.string(),
  vulnerabilities: z.array(z.object({ cve: nvdCveSchema })),
});
export type NvdPage = z.output<typeof nvdPageSchema>;

/** NVD lists the NVD's own score as Primary and a CNA's as Secondary; prefer the primary. */
function pickMetric(metrics: z.output<typeof nvdMetric>[] | undefined) {
  return metrics?.find((m) => m.type === 'Primary') ?? metrics?.[0];
}

function nvdCveFacts(cve: z.output<typeof nvdCveSchema>): CveFacts {
  const v3 = pickMetric(cve.metrics?.cvssMetricV31) ?? pickMetric(cve.metrics?.cvssMetricV30);
  const v4 = pickMetric(cve.metrics?.cvssMetricV40);
  return {
    id: cve.id,
    description: cve.descriptions.find((d) => d.lang === 'en')?.value,
    published: utcTimestamp(cve.published),
    lastModified: utcTimestamp(cve.lastModified),
    cvssV3Vector: v3?.cvssData.vectorString,
    cvssV3Score: v3?.cvssData.baseScore,
    cvssV4Vector: v4?.cvssData.vectorString,
    cvssV4Score: v4?.cvssData.baseScore,
    // NVD copies CISA's KEV date onto the record; the ransomware flag and due date come from the KEV feed itself.
    exploitEvidence: cve.cisaExploitAdd
      ? 'active'
      : cve.references.some((r) => r.tags?.includes('Exploit'))
        ? 'poc'
        : undefined,
  };
}

/** A page's CVEs, less the Rejected ones: NVD keeps them listed, but they describe no vulnerability. */
export function nvdPageBatch(page: NvdPage): FeedBatch {
  return {
    cves: page.vulnerabilities.filter((v) => v.cve.vulnStatus !== 'Rejected').map((v) => nvdCveFacts(v.cve)),
    advisories: [],
  };
}

const cvss = z.object({ vectorString: z.string(), baseScore: z.number().min(0).max(10) });
const cve5Metric = z.object({
  cvssV3_1: cvss.optional(),
  cvssV3_0: cvss.optional(),
  cvssV4_0: cvss.optional(),
  other: z.object({ type: z.string(), content: z.unknown() }).optional(),
});
const cve5Container = z.object({
  descriptions: z.array(z.object({ lang: z.string(), value: z.string() })).optional(),
  metrics: z.array(cve5Metric).optional(),
});
export const cve5RecordSchema = z.object({
  dataType: z.literal('CVE_RECORD'),
  dataVersion: z.string(),
  cveMetadata: z.object({
    cveId: cveIdSchema,
    state: z.enum(['PUBLISHED', 'REJECTED']),
    datePublished: z.string().optional(),
    dateUpdated: z.string().optional(),
  }),
  containers: z.object({ cna: cve5Container, adp: z.array(cve5Container).optional() }),
});

const ssvcContent = z.object({ options: z.array(z.record(z.string(), z.string())) });

/** CVE JSON 5 records: the CNA's container first, then ADP containers (CISA's Vulnrichment) fill what the CNA left out. */
function cve5Facts(record: z.output<typeof cve5RecordSchema>): CveFacts {
  const containers = [record.containers.cna, ...(record.containers.adp ?? [])];
  const metrics = containers.flatMap((c) => c.metrics ?? []);
  const v3 = metrics.find((m) => m.cvssV3_1)?.cvssV3_1 ?? metrics.find((m) => m.cvssV3_0)?.cvssV3_0;
  const v4 = metrics.find((m) => m.cvssV4_0)?.cvssV4_0;
  const others = metrics.flatMap((m) => (m.other ? [m.other] : []));
  // CISA writes the decision points as [{"Exploitation": "none"}, {"Automatable": "yes"}, {"Technical Impact": "total"}];
  // names and values are compared case-insensitively, as its records vary.
  const ssvcOptions = others
    .filter((o) => o.type === 'ssvc')
    .flatMap((o) => ssvcContent.safeParse(o.content).data?.options ?? [])
    .flatMap((opt) => Object.entries(opt).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()] as const));
  const ssvc = (name: string) => ssvcOptions.find(([k]) => k === name)?.[1];
  const ssvcExploitation = ssvc('exploitation');
  const automatable = ssvc('automatable');
  const technicalImpact = ssvc('technical impact');
  const inKev = others.some((o) => o.type === 'kev');
  return {
    id: record.cveMetadata.cveId,
    description: containers.flatMap((c) => c.descriptions ?? []).find((d) => d.lang.startsWith('en'))?.value,
    published: utcTimestamp(record.cveMetadata.datePublished),
    lastModified: utcTimestamp(record.cveMetadata.dateUpdated),
    cvssV3Vector: v3?.vectorString,
    cvssV3Score: v3?.baseScore,
    cvssV4Vector: v4?.vectorString,
    cvssV4Score: v4?.baseScore,
    exploitEvidence: inKev || ssvcExploitation === 'active' ? 'active' : ssvcExploitation === 'poc' ? 'poc' : undefined,
    ...(automatable || technicalImpact
      ? {
          cisaSsvc: {
            ...(automatable ? { automatable: automatable === 'yes' } : {}),
            ...(technicalImpact ? { totalImpact: technicalImpact === 'total' } : {}),
          },
        }
      : {}),
  };
}

/**
 * A CVE file as people download it: an NVD API 2.0 response page, one CVE JSON 5 record, or a JSON
 * array of CVE JSON 5 records. Rejected CVE records are skipped: they describe no vulnerability.
 */
export function parseCveFile(body: Buffer | string): FeedBatch {
  const json = parseJsonText(feedText(body, 'CVE file'), 'CVE file');
  if (json && typeof json === 'object' && 'vulnerabilities' in json)
    return nvdPageBatch(parseInput(nvdPageSchema, json, 'NVD API page'));
  const records = Array.isArray(json) ? json : [json];
  if (records.length === 0) throw new InputError('CVE file is an empty array', [{ path: [], message: 'no records' }]);
  const parsed = parseInput(z.array(cve5RecordSchema), records, 'CVE JSON 5 record');
  return { cves: parsed.filter((r) => r.cveMetadata.state === 'PUBLISHED').map(cve5Facts), advisories: [] };
}
