/**
 * One name per operating-system product, whoever writes it: an inventory ("Microsoft Windows
 * Server 2022 Standard", "Red Hat Enterprise Linux release 9.2 (Plow)"), a scanner ("Microsoft
 * Windows Server 2022 Standard Build 20348", cpe:/o:microsoft:windows_server_2022), or a vendor's
 * advisory ("Windows Server 2022 (Server Core installation)", "Red Hat Enterprise Linux AppStream
 * (v. 9)"). A patch applies to an asset only when both name the same product; a name that maps to
 * none is left unmapped, and the asset is listed as such rather than patched with a guess.
 *
 * Windows versions are told apart by build where the name does not say (Windows 11 22H2, 23H2 and
 * 24H2 all call themselves "Windows 11"): builds per version are Microsoft's release information
 * (learn.microsoft.com/windows/release-health). Server Core and Desktop Experience installations
 * of one Server version take the same updates, as do all editions and architectures, so they share
 * a product. RHEL's extended streams (EUS, AUS, E4S, TUS) are products of their major release; the
 * installed package version decides whether their fix applies.
 */

/** Windows client builds (the third part of 10.0.x.y) per version. */
const windowsClientBuilds: Record<string, string> = {
  '10240': 'windows 10 1507',
  '14393': 'windows 10 1607',
  '17763': 'windows 10 1809',
  '19044': 'windows 10 21h2',
  '19045': 'windows 10 22h2',
  '22000': 'windows 11 21h2',
  '22621': 'windows 11 22h2',
  '22631': 'windows 11 23h2',
  '26100': 'windows 11 24h2',
  '26200': 'windows 11 25h2',
};
const windowsServerBuilds: Record<string, string> = {
  '6002': 'windows server 2008',
  '7601': 'windows server 2008 r2',
  '9200': 'windows server 2012',
  '9600': 'windows server 2012 r2',
  '14393': 'windows server 2016',
  '17763': 'windows server 2019',
  '20348': 'windows server 2022',
  '25398': 'windows server 2022 23h2',
  '26100': 'windows server 2025',
};

/** The build number of a Windows version string (10.0.20348.4648 → 20348), if it is one. */
export function windowsBuild(version: string | undefined): string | undefined {
  const m = /(?:^|\D)(?:6\.[0-3]|10\.0)\.(\d{4,5})(?:\.\d+)?(?:\D|$)/.exec(version ?? '');
  return m?.[1] ?? /(?:^|\s)build\s+(\d{4,5})\b/i.exec(version ?? '')?.[1];
}

function windowsProduct(text: string, version: string | undefined): string | undefined {
  const t = text.toLowerCase().replace(/_/g, ' ');
  const build = windowsBuild(version) ?? windowsBuild(text);
  if (/\bserver\b/.test(t)) {
    const year = /server (2008|2012|2016|2019|2022|2025)( r2)?/.exec(t);
    if (year) {
      // "Windows Server 2022, 23H2 Edition" is the annual channel release, a product of its own.
      if (year[1] === '2022' && (/23h2/.test(t) || build === '25398')) return 'windows server 2022 23h2';
      return `windows server ${year[1]}${year[2] ?? ''}`;
    }
    return build ? windowsServerBuilds[build] : undefined;
  }
  const release = /windows (10|11)\b(?:.*?\b(?:version )?(1507|1607|1809|2[0-5]h[12]))?/.exec(t);
  if (release) {
    const fromBuild = build ? windowsClientBuilds[build] : undefined;
    if (release[2]) return `windows ${release[1]} ${release[2]}`;
    return fromBuild?.startsWith(`windows ${release[1]} `) ? fromBuild : undefined;
  }
  return undefined;
}

function rhelProduct(t: string): string | undefined {
  // cpe:/o:redhat:enterprise_linux:9, cpe:/a:redhat:rhel_eus:8.6::appstream, cpe:/o:redhat:rhel_aus:7.6::server
  const cpe = /cpe:\/[aoh]:redhat:(?:enterprise linux|rhel [a-z0-9]+):(\d+)/.exec(t);
  if (cpe) return `rhel ${cpe[1]}`;
  if (!/red ?hat enterprise linux|\brhel\b|^redhat\b/.test(t)) return undefined;
  const major = /\(v\. (\d+)|(?:release|linux|rhel|server|workstation)\s+(\d+)(?:\.\d+)?\b|\b(\d+)(?:\.\d+)?\b/.exec(t);
  const n = major?.[1] ?? major?.[2] ?? major?.[3];
  return n ? `rhel ${n}` : undefined;
}

function otherLinuxProduct(t: string): string | undefined {
  const ubuntu = /ubuntu(?: linux)?[ :](?:[a-z]+:)?(\d{2}\.\d{2})/.exec(t);
  if (ubuntu) return `ubuntu ${ubuntu[1]}`;
  const debian = /debian(?: gnu\/linux)?[ :](?:[a-z_]+:)?(\d+)/.exec(t);
  if (debian) return `debian ${debian[1]}`;
  for (const [pattern, name] of [
    [/rocky(?: linux)?[ :](?:[a-z_]+:)?(\d+)/, 'rocky'],
    [/alma ?linux[ :](?:[a-z_]+:)?(\d+)/, 'almalinux'],
    [/centos(?: stream)?[ :](?:[a-z_]+:)?(\d+)/, 'centos'],
    [/oracle linux[ :](?:[a-z_]+:)?(\d+)/, 'oracle linux'],
    [/(?:suse linux enterprise server|sles)[ :](?:[a-z_]+:)?(\d+)/, 'sles'],
  ] as const) {
    const m = pattern.exec(t);
    if (m) return `${name} ${m[1]}`;
  }
  return undefined;
}

export interface ProductFacts {
  /** An OS name or CPE as written by an inventory, a scanner or a vendor. */
  name?: string | null | undefined;
  /** A version or build, e.g. "10.0.20348.4648", "9.2". */
  version?: string | null | undefined;
  /** The coarse platform ("windows", "linux"), used only to choose which names to try. */
  platform?: string | null | undefined;
}

/** The product an OS name (with its version) names, e.g. "windows server 2022", "rhel 9"; undefined when unknown. */
export function productKey(facts: ProductFacts): string | undefined {
  const name = facts.name?.trim() ?? '';
  const version = facts.version?.trim() || undefined;
  const t = name.toLowerCase().replace(/_/g, ' ');
  if (/windows/.test(t)) return windowsProduct(name, version);
  // Ansible and some inventories give the distribution and its version apart: "RedHat", "9.2".
  const withVersion = version && !/\d/.test(t) ? `${t} ${version}` : t;
  const linux = rhelProduct(withVersion) ?? otherLinuxProduct(withVersion);
  if (linux) return linux;
  // A bare build with no name: only Windows versions have builds that name exactly one product.
  if (!name && facts.platform?.toLowerCase() === 'windows') {
    const build = windowsBuild(version);
    if (build && !(build in windowsClientBuilds)) return windowsServerBuilds[build];
  }
  return undefined;
}

/**
 * The product a vendor names in an advisory, or the vendor's own name lower-cased when it is not an
 * operating system (Office, SQL Server, Edge): such a patch applies only to assets that name that
 * product, which today none do, so it is never proposed for an OS.
 */
export function vendorProductKey(name: string, cpe?: string): string {
  return productKey({ name: cpe ?? name }) ?? productKey({ name }) ?? name.trim().toLowerCase();
}
