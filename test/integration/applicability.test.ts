import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importFeedFile } from '../../app/feeds.ts';
import { assetInputSchema, upsertAssets, type AssetInput } from '../../db/repositories/assets.ts';
import { createConnectorRegistry } from '../../integrations/registry.ts';
import { policyPresets } from '../../prioritization/policy.ts';
import { prioritizeAssetPatches, unmappedAssets } from '../../prioritization/query.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const cvrf = (month: string) =>
  gunzipSync(
    readFileSync(new URL(`../fixtures/feeds/advisories/msrc-cvrf/cvrfDocument-${month}.xml.gz`, import.meta.url)),
  );
const december = cvrf('2025-Dec');
const january = cvrf('2026-Jan');

/**
 * The KBs (with their SubType) that a CVE's Vendor Fix remediations name for a product, read from
 * the document with plain patterns, independently of the parser.
 */
function kbsFor(xml: string, cve: string, productName: string): { kb: string; subType: string }[] {
  const ids = [...xml.matchAll(/<prod:FullProductName ProductID="(\d+)"[^>]*>([^<]+)</g)]
    .filter((m) => m[2] === productName)
    .map((m) => m[1]!);
  const vuln = [...xml.matchAll(/<vuln:Vulnerability [\s\S]*?<\/vuln:Vulnerability>/g)].find((m) =>
    m[0].includes(`<vuln:CVE>${cve}</vuln:CVE>`),
  )![0];
  return [...vuln.matchAll(/<vuln:Remediation Type="Vendor Fix">([\s\S]*?)<\/vuln:Remediation>/g)]
    .map((m) => m[1]!)
    .filter((r) => /<vuln:Description>\d+</.test(r) && ids.some((id) => r.includes(`<vuln:ProductID>${id}<`)))
    .map((r) => ({
      kb: `KB${/<vuln:Description>(\d+)</.exec(r)![1]}`,
      subType: /<vuln:SubType>([^<]+)</.exec(r)?.[1] ?? '',
    }));
}

/** One host per Windows product family, named and versioned as inventories and scanners write them. */
const hosts: { asset: AssetInput; msrcProduct: string | undefined }[] = [
  {
    asset: { hostname: 'ws2016', osName: 'Microsoft Windows Server 2016 Standard', osVersion: '10.0.14393.8000' },
    msrcProduct: 'Windows Server 2016',
  },
  {
    asset: { hostname: 'ws2019', osName: 'Windows Server 2019 Datacenter', osVersion: '10.0.17763.7000' },
    msrcProduct: 'Windows Server 2019',
  },
  {
    asset: { hostname: 'ws2022', osName: 'Microsoft Windows Server 2022 Standard', osVersion: '10.0.20348.4000' },
    msrcProduct: 'Windows Server 2022',
  },
  // As Nessus writes it: name and build, no revision.
  {
    asset: { hostname: 'ws2022-core', osName: 'Microsoft Windows Server 2022 Datacenter Build 20348' },
    msrcProduct: 'Windows Server 2022 (Server Core installation)',
  },
  {
    asset: { hostname: 'ws2022-ac', osName: 'Windows Server 2022 Datacenter', osVersion: '10.0.25398.1000' },
    msrcProduct: 'Windows Server 2022, 23H2 Edition (Server Core installation)',
  },
  {
    asset: { hostname: 'ws2025', osName: 'Windows Server 2025 Standard', osVersion: '10.0.26100.6000' },
    msrcProduct: 'Windows Server 2025',
  },
  {
    asset: { hostname: 'w10', osName: 'Windows 10 Enterprise', osVersion: '10.0.19045.6000' },
    msrcProduct: 'Windows 10 Version 22H2 for x64-based Systems',
  },
  {
    asset: { hostname: 'w11-23h2', osName: 'Windows 11 Enterprise', osVersion: '10.0.22631.5000' },
    msrcProduct: 'Windows 11 Version 23H2 for x64-based Systems',
  },
  {
    asset: { hostname: 'w11-24h2', osName: 'Microsoft Windows 11 Pro', osVersion: '10.0.26100.5000' },
    msrcProduct: 'Windows 11 Version 24H2 for x64-based Systems',
  },
  {
    asset: { hostname: 'w11-25h2', osName: 'Windows 11 Pro', osVersion: '10.0.26200.7000' },
    msrcProduct: 'Windows 11 Version 25H2 for x64-based Systems',
  },
  // As Nessus names a host whose build it could not read: which Windows 10 is unknowable.
  { asset: { hostname: 'w10-unknown', osName: 'Microsoft Windows 10 Pro' }, msrcProduct: undefined },
];

describe('applicability: a host gets the patches for its own product (MSRC CVRF, December 2025 and January 2026)', () => {
  let t: TestDatabase;
  const now = new Date('2026-02-01T00:00:00Z');
  const registry = createConnectorRegistry();
  let ids: Map<string, string>;

  const addFinding = async (hostname: string, cve: string) =>
    t.db('findings').insert({
      asset_id: ids.get(hostname)!,
      source: 'nessus',
      plugin_id: `p-${cve}`,
      cve_id: cve,
      severity: 3,
      title: cve,
      first_seen: '2026-01-20T00:00:00Z',
      last_seen: '2026-01-20T00:00:00Z',
    });
  const pairs = async () =>
    (await prioritizeAssetPatches(t.db, policyPresets.default, { view: 'all', limit: 1000, now })).map(
      (p) => `${p.hostname} ${p.patchId}`,
    );

  beforeAll(async () => {
    t = await createTestDatabase();
    ids = await upsertAssets(
      t.db,
      [
        ...hosts.map((h) => h.asset),
        {
          hostname: 'ws2022-hot',
          osName: 'Windows Server 2022 Datacenter: Azure Edition',
          osVersion: '10.0.20348.4000',
          hotpatch: true,
        },
        // Already at January's fixed build of Server 2022.
        { hostname: 'ws2022-current', osName: 'Windows Server 2022 Standard', osVersion: '10.0.20348.9999' },
      ].map((a) => assetInputSchema.parse(a)),
    );
  });
  afterAll(async () => t?.drop());

  it('January: each Windows product gets exactly the KB Microsoft lists for it, and an unmappable host gets none', async () => {
    await importFeedFile(t.db, registry, 'msrc', january);
    const cve = 'CVE-2026-20805';
    for (const h of hosts) await addFinding(h.asset.hostname, cve);
    await addFinding('ws2022-current', cve);
    const got = await pairs();
    for (const h of hosts) {
      const expected = h.msrcProduct ? kbsFor(january.toString('utf8'), cve, h.msrcProduct).map((k) => k.kb) : [];
      if (h.msrcProduct) expect(expected.length, h.msrcProduct).toBeGreaterThan(0);
      const proposed = got.filter((p) => p.startsWith(`${h.asset.hostname} `)).map((p) => p.split(' ')[1]);
      expect(proposed.sort(), h.asset.hostname).toEqual([...new Set(expected)].sort());
    }
    // A host whose build is already the fixed one needs nothing.
    expect(got.filter((p) => p.startsWith('ws2022-current '))).toEqual([]);
    // Server 2022 gets one KB, not the 14 asset × patch pairs a CVE-only join gave.
    expect(got.filter((p) => p.startsWith('ws2022 '))).toEqual(['ws2022 KB5073457']);
    const unmapped = await unmappedAssets(t.db);
    expect(unmapped).toEqual([
      expect.objectContaining({ hostname: 'w10-unknown', osName: 'Microsoft Windows 10 Pro', findings: 1 }),
    ]);
  });

  it('December: a hotpatch goes only to the enrolled host, and January supersedes December for everyone else', async () => {
    await importFeedFile(t.db, registry, 'msrc', december);
    const decXml = december.toString('utf8');
    // A December CVE that Server 2022 gets both a regular and a hotpatch KB for.
    const cve = [...decXml.matchAll(/<vuln:CVE>(CVE-[^<]+)</g)]
      .map((m) => m[1]!)
      .find((c) => {
        const kbs = kbsFor(decXml, c, 'Windows Server 2022');
        return (
          kbs.some((k) => k.subType === 'Security Hotpatch Update') && kbs.some((k) => k.subType === 'Security Update')
        );
      })!;
    expect(cve).toBeDefined();
    const dec = kbsFor(decXml, cve, 'Windows Server 2022');
    const hotpatch = dec.find((k) => k.subType === 'Security Hotpatch Update')!.kb;
    const regular = dec.find((k) => k.subType === 'Security Update')!.kb;
    // January's Server 2022 update names December's as the one it supersedes.
    expect(january.toString('utf8')).toContain(`<vuln:Supercedence>${regular.slice(2)}</vuln:Supercedence>`);
    await addFinding('ws2022', cve);
    await addFinding('ws2022-hot', cve);
    const got = await pairs();
    expect(got.filter((p) => p.startsWith('ws2022-hot '))).toEqual([`ws2022-hot ${hotpatch}`]);
    // The regular December KB is superseded by January's cumulative update, which fixes December's CVE as well.
    expect(got.filter((p) => p.startsWith('ws2022 '))).toEqual(['ws2022 KB5073457']);
    expect(got.some((p) => p.endsWith(` ${regular}`))).toBe(false);
  });
});

describe('applicability: a package errata applies where the installed package is older than the fixed one (CSAF, RHSA-2022:0011)', () => {
  let t: TestDatabase;
  const now = new Date('2026-02-01T00:00:00Z');
  afterAll(async () => t?.drop());

  it('proposes the telnet update only to the RHEL 7 hosts with an older telnet installed', async () => {
    t = await createTestDatabase();
    const rhsa = readFileSync(new URL('../fixtures/feeds/advisories/csaf/rhsa-2022_0011.json', import.meta.url));
    await importFeedFile(t.db, createConnectorRegistry(), 'csaf', rhsa);
    const rhel = (hostname: string, packages: { name: string; version: string; arch?: string }[]) => ({
      hostname,
      osName: 'Red Hat Enterprise Linux Server release 7.6 (Maipo)',
      packages,
    });
    const ids = await upsertAssets(
      t.db,
      [
        rhel('rhel-old', [{ name: 'telnet', version: '1:0.17-64.el7', arch: 'x86_64' }]),
        rhel('rhel-fixed', [{ name: 'telnet', version: '1:0.17-65.el7_6', arch: 'x86_64' }]),
        rhel('rhel-newer', [{ name: 'telnet', version: '1:0.17-66.el7', arch: 'x86_64' }]),
        // Another architecture than the one installed is not the fix for it.
        rhel('rhel-s390x', [{ name: 'telnet', version: '1:0.17-60.el7', arch: 's390x' }]),
        rhel('rhel-no-telnet', [{ name: 'bash', version: '4.2.46-34.el7', arch: 'x86_64' }]),
        // The same old package on Ubuntu: a Red Hat errata is not for it.
        { hostname: 'ubuntu', osName: 'Ubuntu 22.04.3 LTS', packages: [{ name: 'telnet', version: '0.17-44' }] },
      ].map((a) => assetInputSchema.parse(a)),
    );
    for (const [hostname, id] of ids)
      await t.db('findings').insert({
        asset_id: id,
        source: 'nessus',
        plugin_id: 'telnet',
        cve_id: 'CVE-2020-10188',
        severity: 4,
        title: `telnetd on ${hostname}`,
        first_seen: '2026-01-20T00:00:00Z',
        last_seen: '2026-01-20T00:00:00Z',
      });
    const pairs = await prioritizeAssetPatches(t.db, policyPresets.default, { view: 'all', limit: 100, now });
    expect(pairs.map((p) => `${p.hostname} ${p.patchId}`)).toEqual(['rhel-old RHSA-2022:0011']);
    const products = (await t
      .db('patch_products')
      .where({ patch_id: 'RHSA-2022:0011' })
      .orderBy(['package', 'arch'])) as {
      product: string;
      package: string;
      arch: string;
      fixed_version: string;
    }[];
    expect(products.find((p) => p.package === 'telnet' && p.arch === 'x86_64')).toMatchObject({
      product: 'rhel 7',
      fixed_version: '1:0.17-65.el7_6',
    });
    // Source packages are never installed and are not listed.
    expect(products.some((p) => p.arch === 'src')).toBe(false);
  });
});
