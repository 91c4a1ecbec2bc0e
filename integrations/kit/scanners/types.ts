import { isIP } from 'node:net';

export type ScanFormat = 'nessus' | 'openvas';

/** A host as a report names it; the importer matches it to an asset by any of its names or addresses. */
export interface ScannedHost {
  /** Identifies the host within one report (Nessus ReportHost name, OpenVAS IP). */
  key: string;
  /** How the host is shown to people, e.g. in the list of unmatched hosts. */
  label: string;
  /** Host names and FQDNs, lower-case. */
  names: string[];
  /** IP addresses, lower-case. */
  ips: string[];
}

/** Patchflow's severity scale, shared by every scanner: 0 informational … 4 critical. */
export const severityNames = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = 0 | 1 | 2 | 3 | 4;

export interface ScannedFinding {
  hostKey: string;
  /** Nessus plugin id or OpenVAS NVT OID. */
  pluginId: string;
  title: string;
  severity: Severity;
  /** Upper-case CVE ids, no duplicates. */
  cves: string[];
  /** The report's CVSS v3 vector and base score for the finding, when it carries them. */
  cvssV3Vector?: string | undefined;
  cvssV3Score?: number | undefined;
  port?: string | undefined;
  protocol?: string | undefined;
  /** Small scanner-specific facts kept with the finding (service name, threat label, quality of detection). */
  evidence: Record<string, string | number>;
}

/**
 * Receives a report's hosts and findings in document order; a host is always announced before its
 * findings. A finding's strings may be views into the chunk of the report being parsed (see
 * `detached` in xml.ts): a sink that keeps a finding beyond the call keeps copies of them, or it
 * keeps the chunk alive with it.
 */
export interface ScanReportSink {
  host(host: ScannedHost): void;
  finding(finding: ScannedFinding): void;
  /** What the scan learnt of a host's system, after `host` announced it; the importer updates the asset with it. */
  hostFacts?(key: string, facts: ScannedHostFacts): void;
}

/** A host's OS and MAC as the scanner detected them. */
export interface ScannedHostFacts {
  /** "Microsoft Windows Server 2022 Standard Build 20348", "Ubuntu 24.04". */
  os?: string | undefined;
  /** The OS as a CPE, when the scanner gives one (cpe:/o:microsoft:windows_server_2022). */
  osCpe?: string | undefined;
  mac?: string | undefined;
}

const macPattern = /\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/i;
/** The first MAC address in a scanner's text (Nessus lists one per interface, one per line). */
export const firstMac = (text: string | undefined): string | undefined =>
  macPattern.exec(text ?? '')?.[0]?.toLowerCase();

const cvePattern = /CVE-\d{4}-\d{4,}/gi;
const oneCve = /^CVE-\d{4}-\d{4,}$/;

/** CVE ids mentioned in a text (one id per element, or a comma-separated list), upper-case and unique. */
export function cveIds(text: string): string[] {
  // The common case, an element holding just one id, without the matching, case mapping and set.
  if (oneCve.test(text)) return [text];
  return [...new Set((text.match(cvePattern) ?? []).map((id) => id.toUpperCase()))];
}

/** Splits a report's host identifiers into names and IP addresses, lower-cased, blanks and duplicates dropped. */
export function hostIdentifiers(values: (string | undefined)[]): Pick<ScannedHost, 'names' | 'ips'> {
  const names = new Set<string>();
  const ips = new Set<string>();
  for (const raw of values) {
    const value = raw?.trim().toLowerCase();
    if (!value) continue;
    (isIP(value) ? ips : names).add(value);
  }
  return { names: [...names], ips: [...ips] };
}

/** A CVSS base score from report text; anything that is not a number from 0 to 10 is ignored rather than stored. */
export function cvssScore(text: string | undefined): number | undefined {
  const score = Number.parseFloat(text ?? '');
  return Number.isFinite(score) && score >= 0 && score <= 10 ? score : undefined;
}
