import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { importScanReport } from '../../app/scan-import.ts';
import { assetInputSchema, upsertAssets } from '../../db/repositories/assets.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { hostileReports, scannerFixtures } from '../helpers/scan-reports.ts';

const body = (text: string | Buffer) => Readable.from([Buffer.from(text)], { objectMode: false });

/** A Nessus report for one host with `items` findings, each naming two CVEs; `tail` replaces the closing tags. */
function nessusReport(host: string, items: number, tail = '</ReportHost></Report></NessusClientData_v2>'): string {
  const parts = [
    `<NessusClientData_v2><Report name="r"><ReportHost name="${host}"><HostProperties><tag name="host-ip">10.1.1.1</tag></HostProperties>`,
  ];
  for (let i = 0; i < items; i += 1) {
    parts.push(
      `<ReportItem severity="${1 + (i % 4)}" pluginID="${100000 + i}" pluginName="Plugin ${i}" port="443" protocol="tcp"><cve>CVE-2024-${10000 + i}</cve><cve>CVE-2023-${10000 + i}</cve></ReportItem>`,
    );
  }
  return parts.join('') + tail;
}

describe('scanner report import', () => {
  let t: TestDatabase;
  const counts = async () => {
    const [findings, cves, audit] = await Promise.all(
      ['findings', 'cves', 'audit_events'].map((table) => t.db(table).count<{ n: number }[]>({ n: '*' })),
    );
    return { findings: Number(findings![0]!.n), cves: Number(cves![0]!.n), audit: Number(audit![0]!.n) };
  };

  beforeAll(async () => {
    t = await createTestDatabase();
    await upsertAssets(
      t.db,
      [
        { hostname: 'adam' },
        { hostname: 'fw-01', fqdn: 'PREPROD.boardvantage.net' },
        { hostname: 'dc01', ips: ['10.0.101.2'] },
        { hostname: 'big-host' },
      ].map((a) => assetInputSchema.parse(a)),
    );
  });
  afterAll(async () => t.drop());

  describe('the real reports', () => {
    beforeEach(async () => {
      await t.db('findings').delete();
    });

    it.each(scannerFixtures)('imports $file with the counts a plain text count gives', async ({ text, expected }) => {
      const summary = await importScanReport(t.db, body(text), { format: 'auto', actor: 'test' });
      expect(summary).toMatchObject(expected);
      const stored = await t.db('findings').select('plugin_id', 'cve_id');
      // One row per finding × CVE on a matched host; the fixtures' hosts are all in the inventory.
      expect(new Set(stored.map((r: { cve_id: string }) => r.cve_id).filter(Boolean)).size).toBe(expected.cves);
    });
  });

  it('matches hosts by hostname, FQDN or IP whatever their case, and lists the ones it cannot match', async () => {
    const report = `<NessusClientData_v2><Report name="r">
      <ReportHost name="ADAM"><ReportItem severity="2" pluginID="1" pluginName="a"/></ReportHost>
      <ReportHost name="10.9.9.9"><HostProperties><tag name="host-fqdn">Preprod.BoardVantage.NET</tag></HostProperties><ReportItem severity="3" pluginID="2" pluginName="b"/></ReportHost>
      <ReportHost name="dc01.corp.example"><HostProperties><tag name="host-ip">10.0.101.2</tag></HostProperties><ReportItem severity="4" pluginID="3" pluginName="c"/></ReportHost>
      <ReportHost name="stranger"><ReportItem severity="4" pluginID="4" pluginName="d"><cve>CVE-2099-0001</cve></ReportItem></ReportHost>
      <ReportHost name="quiet-stranger"/>
    </Report></NessusClientData_v2>`;
    const summary = await importScanReport(t.db, body(report), { format: 'nessus', actor: 'test' });
    expect(summary).toEqual({
      hosts: 5,
      findings: 4,
      cves: 1,
      bySeverity: { critical: 2, high: 1, medium: 1, low: 0 },
      unmatchedHosts: ['stranger', 'quiet-stranger'],
      closed: 0,
    });
    const rows = await t
      .db('findings as f')
      .join('assets as a', 'a.id', 'f.asset_id')
      .where('f.plugin_id', 'in', ['1', '2', '3', '4'])
      .select('a.hostname', 'f.plugin_id')
      .orderBy('f.plugin_id');
    expect(rows).toEqual([
      { hostname: 'adam', plugin_id: '1' },
      { hostname: 'fw-01', plugin_id: '2' },
      { hostname: 'dc01', plugin_id: '3' },
    ]);
    // The CVE of the unmatched host is still a fact worth knowing.
    expect(await t.db('cves').where({ id: 'CVE-2099-0001' }).first()).toBeTruthy();
  });

  it('keeps first_seen, moves last_seen, reopens fixed findings and leaves accepted ones, without overwriting feed CVSS', async () => {
    const example = scannerFixtures.find((f) => f.file === 'example.nessus')!;
    await t
      .db('cves')
      .insert({
        id: 'CVE-2018-4937',
        cvss_v3_vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H',
        cvss_v3_score: 8.8,
      })
      .onConflict('id')
      .merge();
    await importScanReport(t.db, body(example.text), { format: 'auto', actor: 'test' });
    const key = { plugin_id: '108962', cve_id: 'CVE-2018-4937' };
    const first = await t.db('findings').where(key).first();
    await t.db('findings').where(key).update({ status: 'fixed' });
    await t.db('findings').where({ plugin_id: '108962', cve_id: 'CVE-2018-4935' }).update({ status: 'accepted' });
    await new Promise((r) => setTimeout(r, 20));
    await importScanReport(t.db, body(example.text), { format: 'auto', actor: 'test' });
    const again = await t.db('findings').where(key).first();
    expect(again.first_seen).toEqual(first.first_seen);
    expect(again.last_seen.getTime()).toBeGreaterThan(first.last_seen.getTime());
    expect(again.status).toBe('open');
    expect((await t.db('findings').where({ plugin_id: '108962', cve_id: 'CVE-2018-4935' }).first()).status).toBe(
      'accepted',
    );
    expect(await t.db('cves').where({ id: 'CVE-2018-4937' }).first()).toMatchObject({
      cvss_v3_vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H',
      cvss_v3_score: 8.8,
    });
    expect(await t.db('cves').where({ id: 'CVE-2018-4935' }).first()).toMatchObject({
      cvss_v3_vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      cvss_v3_score: 9.8,
    });
  });

  it('a later scan of a host closes its findings that scan no longer reports, and a host it did not cover keeps its own', async () => {
    const host = (name: string, plugins: number[]) =>
      `<ReportHost name="${name}"><HostProperties></HostProperties>${plugins
        .map(
          (p) =>
            `<ReportItem severity="3" pluginID="${p}" pluginName="Plugin ${p}" port="443" protocol="tcp"><cve>CVE-2025-${p}</cve></ReportItem>`,
        )
        .join('')}</ReportHost>`;
    const report = (...hosts: string[]) =>
      `<NessusClientData_v2><Report name="r">${hosts.join('')}</Report></NessusClientData_v2>`;
    const state = async (hostname: string) =>
      Object.fromEntries(
        (
          (await t
            .db('findings as f')
            .join('assets as a', 'a.id', 'f.asset_id')
            .where('a.hostname', hostname)
            .whereIn('f.plugin_id', ['91001', '91002'])
            .select('f.plugin_id', 'f.status', 'f.fixed_by', 'f.fixed_at')) as {
            plugin_id: string;
            status: string;
            fixed_by: string | null;
            fixed_at: Date | null;
          }[]
        ).map((r) => [
          r.plugin_id,
          `${r.status}${r.fixed_by ? ` by ${r.fixed_by}` : ''}${r.fixed_at ? ' (dated)' : ''}`,
        ]),
      );
    await importScanReport(t.db, body(report(host('adam', [91001, 91002]), host('dc01', [91001]))), {
      format: 'nessus',
      actor: 'test',
    });
    // The patch fixed 91002 on adam; dc01 was not scanned this time.
    const rescan = await importScanReport(t.db, body(report(host('adam', [91001]))), {
      format: 'nessus',
      actor: 'test',
    });
    expect(rescan.closed).toBe(1);
    expect(await state('adam')).toEqual({ '91001': 'open', '91002': 'fixed by nessus scan (dated)' });
    expect(await state('dc01')).toEqual({ '91001': 'open' });
    // It came back: reopened, its closure cleared.
    await importScanReport(t.db, body(report(host('adam', [91001, 91002]))), { format: 'nessus', actor: 'test' });
    expect(await state('adam')).toEqual({ '91001': 'open', '91002': 'open' });
  });

  it('imports two reports of the same hosts at once, one after the other', async () => {
    const report = nessusReport('fw-01', 2500);
    await t
      .db('findings')
      .whereIn('asset_id', t.db('assets').select('id').where({ hostname: 'fw-01' }))
      .delete();
    const [first, second] = await Promise.all(
      [0, 1].map(() => importScanReport(t.db, body(report), { format: 'nessus', actor: 'test' })),
    );
    expect(first).toEqual(second);
    const rows = await t
      .db('findings as f')
      .join('assets as a', 'a.id', 'f.asset_id')
      .where('a.hostname', 'fw-01')
      .count<{ n: string }[]>({ n: '*' });
    expect(Number(rows[0]!.n)).toBe(5000);
  });

  describe('a bad report changes nothing', () => {
    it.each(hostileReports)('$name', async ({ body: report, error }) => {
      const before = await counts();
      await expect(importScanReport(t.db, body(report), { format: 'auto', actor: 'test' })).rejects.toThrow(error);
      expect(await counts()).toEqual(before);
    });

    it('a truncated report', async () => {
      const example = scannerFixtures.find((f) => f.file === 'example.nessus')!;
      const before = await counts();
      await expect(
        importScanReport(t.db, body(example.text.slice(0, 900_000)), { format: 'auto', actor: 'test' }),
      ).rejects.toThrow(/unclosed tag/);
      expect(await counts()).toEqual(before);
    });

    it('a report that breaks after thousands of findings were already written', async () => {
      // 6000 finding rows in 16 KiB chunks: several batches are written before the broken last item is read.
      const good = nessusReport('big-host', 3000);
      const broken = nessusReport(
        'big-host',
        3000,
        '<ReportItem severity="2" pluginID="" pluginName="broken"/></ReportHost></Report></NessusClientData_v2>',
      );
      const before = await counts();
      const chunked = Readable.from(
        (function* () {
          for (let i = 0; i < broken.length; i += 16_384) yield Buffer.from(broken.slice(i, i + 16_384));
        })(),
      );
      await expect(importScanReport(t.db, chunked, { format: 'auto', actor: 'test' })).rejects.toThrow(/pluginID/);
      expect(await counts()).toEqual(before);
      // The same report, whole, imports every row: the failure above was the broken item, not the size.
      const summary = await importScanReport(t.db, body(good), { format: 'auto', actor: 'test' });
      expect(summary).toMatchObject({ hosts: 1, findings: 3000, cves: 6000 });
      expect((await counts()).findings).toBe(before.findings + 6000);
    });
  });

  describe('what a scan learns of the host', () => {
    it('updates the asset’s OS, MAC and last-seen time from the real report, and maps its product', async () => {
      const example = scannerFixtures.find((f) => f.file === 'example.nessus')!;
      const before = new Date();
      await importScanReport(t.db, body(example.text), { format: 'nessus', actor: 'test' });
      const adam = (await t.db('assets').where({ hostname: 'adam' }).first()) as Record<string, unknown>;
      expect(adam).toMatchObject({ os_name: 'Microsoft Windows 10 Pro', mac: '00:50:56:a6:60:bc' });
      expect((adam['last_seen'] as Date).getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);
      // "Windows 10" without a build is no product: which release is unknowable, so nothing is guessed.
      expect(adam['product']).toBeNull();
    });

    it('keeps the KBs Nessus names as the fix, and a Server 2022 build maps to its product', async () => {
      const report = `<NessusClientData_v2><Report name="r"><ReportHost name="dc01.corp.example"><HostProperties>
        <tag name="host-ip">10.0.101.2</tag>
        <tag name="operating-system">Microsoft Windows Server 2022 Standard Build 20348</tag>
        <tag name="mac-address">00:15:5D:01:02:03
00:15:5D:01:02:04</tag></HostProperties>
        <ReportItem severity="3" pluginID="297000" pluginName="KB5073457: Windows Server 2022 Security Update (January 2026)">
          <cve>CVE-2026-20805</cve><mskb>5073457</mskb><mskb>5073379</mskb><patch_publication_date>2026/01/13</patch_publication_date>
        </ReportItem></ReportHost></Report></NessusClientData_v2>`;
      await importScanReport(t.db, body(report), { format: 'nessus', actor: 'test' });
      const dc = (await t.db('assets').where({ hostname: 'dc01' }).first()) as Record<string, unknown>;
      expect(dc).toMatchObject({ product: 'windows server 2022', mac: '00:15:5d:01:02:03' });
      const finding = (await t.db('findings').where({ plugin_id: '297000' }).first()) as {
        evidence: Record<string, unknown>;
      };
      expect(finding.evidence['mskb']).toBe('KB5073457 KB5073379');
      expect(finding.evidence['patchPublished']).toBe('2026-01-13');
    });

    it('reads the KBs Greenbone’s solution names as the fix', async () => {
      const report = `<report id="r1"><report id="r1"><results><result id="x">
        <host>10.0.101.2</host><port>general/tcp</port>
        <nvt oid="1.3.6.1.4.1.25623.1.1.4.2026.5073457"><name>Microsoft Windows Security Update (KB5073457)</name>
          <refs><ref type="cve" id="CVE-2026-20805"/></refs>
          <solution type="VendorFix">Install KB5073457 or a later cumulative update.</solution></nvt>
        <severity>7.8</severity><threat>High</threat><qod><value>97</value></qod>
      </result></results></report></report>`;
      await importScanReport(t.db, body(report), { format: 'openvas', actor: 'test' });
      const finding = (await t.db('findings').where({ plugin_id: '1.3.6.1.4.1.25623.1.1.4.2026.5073457' }).first()) as {
        evidence: Record<string, unknown>;
      };
      expect(finding.evidence['mskb']).toBe('KB5073457');
    });
  });
});
