/**
 * What a scanner emulator finds when it scans a host: the tests' stand-in for the network. Both
 * scanner emulators (Nessus/Tenable and Greenbone GMP) read it when a scan runs, so a test can
 * patch a host between two scans (remove a vulnerability), leave one unpatched, or add a new one,
 * and see the re-scan report exactly that.
 */
export interface EmulatedVulnerability {
  /** Nessus plugin id (e.g. "187792") or OpenVAS NVT OID (e.g. "1.3.6.1.4.1.25623.1.0.150000"). */
  pluginId: string;
  name: string;
  /** 0 informational … 4 critical (Nessus's scale; the GMP emulator turns it into a CVSS-style severity). */
  severity: 0 | 1 | 2 | 3 | 4;
  cves: string[];
  port?: string;
  protocol?: string;
  cvss3Vector?: string;
  cvss3BaseScore?: number;
  /** Scanner remediation facts: Microsoft KBs (Nessus `mskb`), solution text, see-also URLs. */
  mskb?: string[];
  solution?: string;
  seeAlso?: string[];
}

export interface EmulatedHost {
  /** What the scan target names it by (hostname or IP); the report carries both. */
  hostname: string;
  ip: string;
  fqdn?: string;
  /** As the scanner reports it, e.g. "Microsoft Windows Server 2022 Standard Build 20348". */
  operatingSystem?: string;
  mac?: string;
  vulnerabilities: EmulatedVulnerability[];
}

/** The hosts a scan can reach, by hostname; a target that names none of them is reported as down (no ReportHost/result). */
export class ScanWorld {
  private readonly hosts = new Map<string, EmulatedHost>();

  constructor(hosts: EmulatedHost[] = []) {
    for (const h of hosts) this.set(h);
  }

  set(host: EmulatedHost): void {
    this.hosts.set(host.hostname.toLowerCase(), host);
  }

  /** The host a scan target (hostname, FQDN or IP) names, if the network has it. */
  find(target: string): EmulatedHost | undefined {
    const t = target.trim().toLowerCase();
    return [...this.hosts.values()].find(
      (h) => h.hostname.toLowerCase() === t || h.ip === t || h.fqdn?.toLowerCase() === t,
    );
  }

  /** Removes the vulnerabilities with these CVEs from a host, as installing their patch does. */
  remediate(hostname: string, cves: string[]): void {
    const host = this.hosts.get(hostname.toLowerCase());
    if (!host) throw new Error(`no emulated host ${hostname}`);
    host.vulnerabilities = host.vulnerabilities.filter((v) => !v.cves.some((c) => cves.includes(c)));
  }
}
