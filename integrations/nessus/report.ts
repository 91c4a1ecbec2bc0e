import { z } from 'zod';
import {
  cveIds,
  cvssScore,
  firstMac,
  hostIdentifiers,
  type ScannedFinding,
  type ScanReportSink,
  type Severity,
} from '../kit/scanners/types.ts';
import { detached, type XmlElementHandler, type XmlPosition } from '../kit/scanners/xml.ts';

/**
 * Nessus v2 (`.nessus`) reports: NessusClientData_v2 > Report > ReportHost > (HostProperties, ReportItem*).
 * Each ReportHost is announced once its HostProperties are read (they name the host's FQDN and
 * IP), then each ReportItem is handed over as soon as it closes.
 */
export const nessusRootElement = 'NessusClientData_v2';

/** HostProperties tags that identify a host. */
const identifyingTags = new Set(['host-ip', 'host-fqdn', 'hostname', 'netbios-name', 'host-rdns']);
/** HostProperties tags that describe the host's system; the importer updates the asset with them. */
const factTags = new Set(['operating-system', 'mac-address']);
/** ReportItem children worth their text; everything else (descriptions, plugin output) is skipped unread. */
const itemTextElements = new Set(['cve', 'cvss3_vector', 'cvss3_base_score', 'mskb', 'patch_publication_date']);

/** The longest value, once trimmed, of each ReportItem attribute read. */
const attributeLimits = {
  pluginID: 64,
  pluginName: 1000,
  port: 20,
  protocol: 20,
  svc_name: 100,
  pluginFamily: 200,
} as const;
const optionalAttributes = ['pluginName', 'port', 'protocol', 'svc_name', 'pluginFamily'] as const;
const severities = new Map<string, Severity>([
  ['0', 0],
  ['1', 1],
  ['2', 2],
  ['3', 3],
  ['4', 4],
]);

export const reportItemSchema = z.object({
  severity: z
    .enum(['0', '1', '2', '3', '4'], 'a severity from 0 (informational) to 4 (critical)')
    .transform((s) => Number(s) as Severity),
  pluginID: z.string().trim().min(1, 'a plugin id').max(attributeLimits.pluginID),
  pluginName: z.string().trim().max(attributeLimits.pluginName).optional(),
  port: z.string().trim().max(attributeLimits.port).optional(),
  protocol: z.string().trim().max(attributeLimits.protocol).optional(),
  svc_name: z.string().trim().max(attributeLimits.svc_name).optional(),
  pluginFamily: z.string().trim().max(attributeLimits.pluginFamily).optional(),
});
type ReportItemAttributes = z.output<typeof reportItemSchema>;

/**
 * What `reportItemSchema` makes of an item's attributes, read without it: saxes gives every
 * attribute as a string, for which these are the schema's checks, and zod's parse of every item
 * was a third of the handler's time. Undefined when a check fails; the schema then has the final
 * word, and words the error (a unit test holds the two to the same results).
 */
export function readReportItemAttributes(attributes: Record<string, string>): ReportItemAttributes | undefined {
  const severity = severities.get(attributes['severity'] ?? '');
  const pluginID = attributes['pluginID']?.trim();
  if (severity === undefined || !pluginID || pluginID.length > attributeLimits.pluginID) return undefined;
  const read: ReportItemAttributes = { severity, pluginID };
  for (const name of optionalAttributes) {
    const value = attributes[name]?.trim();
    if (value === undefined) continue;
    if (value.length > attributeLimits[name]) return undefined;
    read[name] = value;
  }
  return read;
}

interface HostState {
  name: string;
  identifiers: string[];
  announced: boolean;
  os?: string | undefined;
  mac?: string | undefined;
}
interface ItemState {
  attributes: ReportItemAttributes;
  cves: string[];
  /** The Microsoft KBs Nessus names as the fix (`mskb`, digits only). */
  kbs: string[];
  /** When the vendor published the fix, as Nessus writes it (2026/01/13). */
  patchPublished?: string | undefined;
  cvssV3Vector?: string;
  cvssV3Score?: number | undefined;
}

export function nessusReportHandler(sink: ScanReportSink, position: XmlPosition): XmlElementHandler {
  let host: HostState | undefined;
  let item: ItemState | undefined;
  let tagName: string | undefined;

  const announce = () => {
    if (!host || host.announced) return;
    host.announced = true;
    sink.host({ key: host.name, label: host.name, ...hostIdentifiers([host.name, ...host.identifiers]) });
    if (host.os || host.mac) sink.hostFacts?.(host.name, { os: host.os, mac: host.mac });
  };

  return {
    open(name, attributes) {
      if (name === 'ReportHost') {
        const hostName = attributes['name']?.trim();
        if (!hostName) throw position.fail('<ReportHost> has no name attribute');
        host = { name: detached(hostName), identifiers: [], announced: false };
        return false;
      }
      if (!host) return false;
      if (name === 'ReportItem') {
        announce();
        let read = readReportItemAttributes(attributes);
        if (!read) {
          const parsed = reportItemSchema.safeParse(attributes);
          if (!parsed.success) {
            const issue = parsed.error.issues[0]!;
            throw position.fail(`<ReportItem> attribute ${issue.path.join('.')}: ${issue.message}`);
          }
          read = parsed.data;
        }
        item = { attributes: read, cves: [], kbs: [] };
        return false;
      }
      if (item) return itemTextElements.has(name);
      if (name === 'tag') {
        tagName = attributes['name'];
        return tagName !== undefined && (identifyingTags.has(tagName) || factTags.has(tagName));
      }
      return false;
    },
    close(name, text) {
      if (item) {
        if (name === 'cve') item.cves.push(...cveIds(text));
        else if (name === 'cvss3_vector') item.cvssV3Vector = cvss3Vector(text);
        else if (name === 'cvss3_base_score') item.cvssV3Score = cvssScore(text);
        else if (name === 'mskb') item.kbs.push(...(text.match(/\d{6,8}/g) ?? []));
        else if (name === 'patch_publication_date') item.patchPublished = text.trim().replace(/\//g, '-').slice(0, 10);
        else if (name === 'ReportItem') {
          sink.finding(findingOf(host!.name, item));
          item = undefined;
        }
        return;
      }
      if (name === 'tag' && host && tagName === 'operating-system')
        host.os = detached(text.trim().split('\n')[0]!.trim());
      else if (name === 'tag' && host && tagName === 'mac-address') host.mac = firstMac(text);
      else if (name === 'tag' && host && tagName && identifyingTags.has(tagName)) host.identifiers.push(text);
      else if (name === 'HostProperties') announce();
      else if (name === 'ReportHost') {
        // A host without items (an empty or unreachable scan target) still counts as scanned.
        announce();
        host = undefined;
      }
    },
  };
}

/**
 * Nessus wrote v3 vectors without their `CVSS:3.0/` prefix for years (`AV:N/AC:L/…`); the prefix
 * is what NVD, the CVE feeds and prioritisation expect, so an unprefixed vector gets Nessus' own.
 */
function cvss3Vector(text: string): string | undefined {
  const vector = text.trim();
  if (!vector) return undefined;
  return vector.startsWith('CVSS:') ? vector : `CVSS:3.0/${vector}`;
}

/** Attribute values stay views into the chunk (see ScannedFinding): most items are informational, and no sink keeps those. */
function findingOf(hostKey: string, item: ItemState): ScannedFinding {
  const a = item.attributes;
  const evidence: Record<string, string> = {};
  if (a.svc_name) evidence['service'] = a.svc_name;
  if (a.pluginFamily) evidence['family'] = a.pluginFamily;
  // The scanner's own remediation fact: these KBs fix the finding on this host, whatever its product.
  if (item.kbs.length > 0) evidence['mskb'] = [...new Set(item.kbs)].map((kb) => `KB${kb}`).join(' ');
  if (item.patchPublished) evidence['patchPublished'] = item.patchPublished;
  return {
    hostKey,
    pluginId: a.pluginID,
    title: a.pluginName || `Nessus plugin ${a.pluginID}`,
    severity: a.severity,
    cves: item.cves.length > 1 ? [...new Set(item.cves)] : item.cves,
    cvssV3Vector: item.cvssV3Vector,
    cvssV3Score: item.cvssV3Score,
    port: a.port,
    protocol: a.protocol,
    evidence,
  };
}
