import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { productKey, vendorProductKey } from '../../prioritization/products.ts';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);
const msrcNames = ['2025-Dec', '2026-Jan'].flatMap((month) => {
  const xml = gunzipSync(readFileSync(fixture(`feeds/advisories/msrc-cvrf/cvrfDocument-${month}.xml.gz`))).toString();
  return [...xml.matchAll(/<prod:FullProductName ProductID="\d+"[^>]*>([^<]+)</g)].map((m) => m[1]!);
});

describe('OS names map to one product, whoever writes them', () => {
  it('maps every Windows OS product in Microsoft’s CVRF documents, and nothing else to a Windows product', () => {
    const windowsOs = [...new Set(msrcNames)].filter((n) => /^Windows (10|11|Server \d{4})/.test(n));
    expect(windowsOs.length).toBeGreaterThan(30);
    for (const name of windowsOs) expect(vendorProductKey(name), name).toMatch(/^windows (10|11|server) /);
    for (const name of new Set(msrcNames.filter((n) => !windowsOs.includes(n))))
      expect(vendorProductKey(name), name).not.toMatch(/^windows (10|11|server) /);
    // Architectures and installation options of one version share a product.
    expect(vendorProductKey('Windows Server 2022 (Server Core installation)')).toBe('windows server 2022');
    expect(vendorProductKey('Windows 11 Version 24H2 for ARM64-based Systems')).toBe('windows 11 24h2');
    expect(vendorProductKey('Windows Server 2022, 23H2 Edition (Server Core installation)')).toBe(
      'windows server 2022 23h2',
    );
    expect(vendorProductKey('Windows Server 2008 R2 for x64-based Systems Service Pack 1')).toBe(
      'windows server 2008 r2',
    );
  });

  it('maps the names inventories and scanners write, by build where the name does not say', () => {
    const cases: [Parameters<typeof productKey>[0], string | undefined][] = [
      // Nessus operating-system, the fixture's own host.
      [{ name: 'Microsoft Windows 10 Pro' }, undefined],
      [{ name: 'Microsoft Windows 10 Pro', version: '10.0.19045.5371' }, 'windows 10 22h2'],
      [{ name: 'Microsoft Windows Server 2022 Standard Build 20348' }, 'windows server 2022'],
      // OpenVAS best_os_txt and best_os_cpe from the fixtures.
      [{ name: 'Microsoft Windows 11' }, undefined],
      [{ name: 'Microsoft Windows 11', version: '10.0.22631.4317' }, 'windows 11 23h2'],
      [{ name: 'cpe:/o:microsoft:windows_server_2022' }, 'windows server 2022'],
      [{ name: 'Ubuntu 24.04' }, 'ubuntu 24.04'],
      [{ name: 'cpe:/o:canonical:ubuntu_linux:22.04' }, 'ubuntu 22.04'],
      // WSUS Get-WsusComputer's "Operating System" column.
      [{ name: 'Windows Server 2008 Enterprise Edition (full installation)' }, 'windows server 2008'],
      // SCCM OperatingSystemNameandVersion names no release; the build does.
      [{ name: 'Microsoft Windows NT Server 10.0', version: '10.0.17763' }, 'windows server 2019'],
      [{ name: 'Microsoft Windows NT Server 10.0' }, undefined],
      // Ansible facts: distribution and version apart.
      [{ name: 'CentOS', version: '9' }, 'centos 9'],
      [{ name: 'RedHat', version: '9.2' }, 'rhel 9'],
      [{ name: 'Red Hat Enterprise Linux release 9.2 (Plow)' }, 'rhel 9'],
      [{ name: 'Debian GNU/Linux 12 (bookworm)' }, 'debian 12'],
      [{ name: 'CISCO PIX 7.0' }, undefined],
      // A bare build names a product only where no client shares it.
      [{ platform: 'windows', version: '10.0.20348.4648' }, 'windows server 2022'],
      [{ platform: 'windows', version: '10.0.26100.1' }, undefined],
    ];
    for (const [facts, expected] of cases) expect(productKey(facts), JSON.stringify(facts)).toBe(expected);
  });

  it('maps Red Hat’s CSAF platforms, extended streams to their major release', () => {
    expect(vendorProductKey('Red Hat Enterprise Linux Server AUS (v. 7.6)', 'cpe:/o:redhat:rhel_aus:7.6::server')).toBe(
      'rhel 7',
    );
    expect(
      vendorProductKey('Red Hat Enterprise Linux AppStream (v. 9)', 'cpe:/a:redhat:enterprise_linux:9::appstream'),
    ).toBe('rhel 9');
    expect(vendorProductKey('Red Hat Enterprise Linux BaseOS (v. 8)')).toBe('rhel 8');
  });
});
