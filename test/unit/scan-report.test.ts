import { describe, expect, it } from 'vitest';
import { readReportItemAttributes, reportItemSchema } from '../../integrations/nessus/report.ts';
import { readScanReport, type ScanFormatOption } from '../../integrations/kit/scanners/report.ts';
import { cveIds, type ScannedFinding, type ScannedHost } from '../../integrations/kit/scanners/types.ts';
import { compactCopy, SharedStrings } from '../../integrations/kit/scanners/xml.ts';
import {
  expectedNessusCounts,
  expectedOpenvasCounts,
  hostileReports,
  scannerFixtures,
} from '../helpers/scan-reports.ts';

/** Splits a text into small byte chunks, so that elements, entities and multi-byte characters straddle chunk edges. */
async function* chunks(text: string | Uint8Array, size = 997): AsyncGenerator<Uint8Array> {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function parse(body: string | Uint8Array, format: ScanFormatOption = 'auto') {
  const hosts: ScannedHost[] = [];
  const findings: ScannedFinding[] = [];
  const detected = await readScanReport(chunks(body), {
    format,
    sink: { host: (h) => hosts.push(h), finding: (f) => findings.push(f) },
  });
  const above = findings.filter((f) => f.severity > 0);
  return {
    detected,
    hosts,
    findings,
    above,
    hostKeys: new Set(hosts.map((h) => h.key)),
    cves: new Set(above.flatMap((f) => f.cves)),
  };
}

describe('scanner report parsing', () => {
  it.each(scannerFixtures)(
    'reads $file as $format with the counts a plain text count gives',
    async ({ text, format, expected }) => {
      const r = await parse(text);
      expect(r.detected).toBe(format);
      expect(r.hostKeys.size).toBe(expected.hosts);
      expect(r.above.length).toBe(expected.findings);
      expect(r.cves.size).toBe(expected.cves);
    },
  );

  it('knows the example Nessus host by name, FQDN and IP, and keeps CVSS v3 facts', async () => {
    const example = scannerFixtures.find((f) => f.file === 'example.nessus')!;
    const r = await parse(example.text);
    expect(r.hosts).toEqual([
      { key: 'adam', label: 'adam', names: ['adam', 'adam.ad.demo.io'], ips: ['192.168.16.133'] },
    ]);
    const flash = r.findings.find((f) => f.pluginId === '108962')!;
    expect(flash).toMatchObject({
      severity: 4,
      cvssV3Vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      cvssV3Score: 9.8,
      port: '445',
      protocol: 'tcp',
    });
    expect(flash.cves).toContain('CVE-2018-4937');
  });

  it('refuses a demanded format that the report is not', async () => {
    const openvas = scannerFixtures.find((f) => f.format === 'openvas')!;
    await expect(parse(openvas.text, 'nessus')).rejects.toThrow(/the report is openvas, not nessus/);
  });

  it('counts an OpenVAS result by its numeric severity even when the threat label is empty', async () => {
    const report = `<report id="r"><report id="r2"><results start="1" max="-1">
      <result id="a"><name>Weak cipher</name><host>192.0.2.7<asset asset_id=""/><hostname>mail.example.org</hostname></host><port>25/tcp</port>
        <nvt oid="1.3.6.1.4.1.25623.1.0.1"><name>Weak cipher</name><refs><ref id="CVE-2016-2183" type="cve"/><ref id="https://x" type="url"/></refs>
          <severities score="5.3"><severity type="cvss_base_v3"><score>5.3</score><value>CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N</value></severity></severities></nvt>
        <threat></threat><severity>5.3</severity><qod><value>80</value></qod>
        <delta><result id="old"><host>198.51.100.1</host><nvt oid="x"/><severity>9.0</severity></result></delta></result>
      <result id="b"><name>OS detection</name><host>192.0.2.7</host><port>general/tcp</port><nvt oid="1.3.6.1.4.1.25623.1.0.2"/><threat>Log</threat><severity>0.0</severity></result>
    </results></report></report>`;
    expect(expectedOpenvasCounts(report)).toMatchObject({ findings: 1 });
    const r = await parse(report);
    expect(r.hostKeys).toEqual(new Set(['192.0.2.7']));
    expect(r.hosts[0]).toMatchObject({ names: ['mail.example.org'], ips: ['192.0.2.7'] });
    expect(r.above).toEqual([
      expect.objectContaining({
        pluginId: '1.3.6.1.4.1.25623.1.0.1',
        severity: 2,
        cves: ['CVE-2016-2183'],
        port: '25',
        protocol: 'tcp',
        cvssV3Vector: 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N',
        cvssV3Score: 5.3,
      }),
    ]);
  });

  it('tolerates a BOM, non-ASCII text, a multi-megabyte single line and informational items', async () => {
    const output = 'é€😀 '.repeat(400_000);
    const report =
      `\uFEFF<?xml version="1.0" encoding="UTF-8"?><NessusClientData_v2><Report name="Überprüfung"><ReportHost name="srv-ünïcode"><HostProperties><tag name="host-ip">203.0.113.9</tag></HostProperties>` +
      `<ReportItem severity="0" pluginID="19506" pluginName="Scan info"><plugin_output>${output}</plugin_output></ReportItem>` +
      `<ReportItem severity="2" pluginID="5" pluginName="Schwachstelle – Ä"><description>${output}</description><cve>CVE-2024-0001</cve></ReportItem>` +
      '</ReportHost></Report></NessusClientData_v2>';
    expect(report.includes('\n')).toBe(false);
    const r = await parse(report);
    expect(r.hosts).toEqual([
      { key: 'srv-ünïcode', label: 'srv-ünïcode', names: ['srv-ünïcode'], ips: ['203.0.113.9'] },
    ]);
    expect(r.findings.map((f) => [f.severity, f.title, f.cves])).toEqual([
      [0, 'Scan info', []],
      [2, 'Schwachstelle – Ä', ['CVE-2024-0001']],
    ]);
    expect(expectedNessusCounts(report)).toMatchObject({ hosts: 1, findings: 1, cves: 1 });
  });

  it('reads an ISO-8859-1 report by its XML declaration', async () => {
    const latin1 = Buffer.from(
      '<?xml version="1.0" encoding="ISO-8859-1"?><NessusClientData_v2><Report name="r"><ReportHost name="h"><ReportItem severity="1" pluginID="7" pluginName="Caf\u00e9"/></ReportHost></Report></NessusClientData_v2>',
      'latin1',
    );
    const r = await parse(latin1);
    expect(r.findings[0]?.title).toBe('Café');
  });

  it('fails on a truncated report, naming the unclosed element', async () => {
    const example = scannerFixtures.find((f) => f.file === 'example.nessus')!;
    await expect(parse(example.text.slice(0, Math.floor(example.text.length * 0.6)))).rejects.toThrow(/unclosed tag/);
  });

  it.each(hostileReports)('refuses $name', async ({ body, error }) => {
    await expect(parse(body)).rejects.toThrow(error);
    await expect(parse(body)).rejects.toMatchObject({ name: 'InputError' });
  });

  it('bounds the text it keeps for one element', async () => {
    const report = `<NessusClientData_v2><Report name="r"><ReportHost name="h"><ReportItem severity="1" pluginID="7" pluginName="x"><cve>${'CVE-2024-1 '.repeat(20_000)}</cve></ReportItem></ReportHost></Report></NessusClientData_v2>`;
    await expect(parse(report)).rejects.toThrow(/<cve> holds more than/);
  });

  it('reads ReportItem attributes exactly as their schema does', () => {
    const cases: Record<string, string>[] = [
      {
        severity: '3',
        pluginID: '108962',
        pluginName: 'Adobe Flash Player <= 29.0.0.113 (APSB18-08)',
        port: '445',
        protocol: 'tcp',
        svc_name: 'cifs',
        pluginFamily: 'Windows',
      },
      { severity: '0', pluginID: ' 19506 ', pluginName: '  Nessus Scan Information\n', port: '0' },
      { severity: '4', pluginID: '1', svc_name: '', pluginFamily: '' },
      { severity: '2', pluginID: '7', extra: 'not read' },
      {
        severity: '2',
        pluginID: 'x'.repeat(64),
        pluginName: 'n'.repeat(1000),
        port: '1'.repeat(20),
        protocol: 'p'.repeat(20),
        svc_name: 's'.repeat(100),
        pluginFamily: 'f'.repeat(200),
      },
      { severity: '5', pluginID: '1' },
      { severity: ' 3', pluginID: '1' },
      { severity: '', pluginID: '1' },
      { pluginID: '1' },
      { severity: '2', pluginID: '   ' },
      { severity: '2' },
      { severity: '2', pluginID: 'x'.repeat(65) },
      { severity: '1', pluginID: '7', pluginName: 'n'.repeat(1001) },
      { severity: '1', pluginID: '7', port: '1'.repeat(21) },
      { severity: '1', pluginID: '7', protocol: 'p'.repeat(21) },
      { severity: '1', pluginID: '7', svc_name: 's'.repeat(101) },
      { severity: '1', pluginID: '7', pluginFamily: 'f'.repeat(201) },
    ];
    for (const attributes of cases) {
      const parsed = reportItemSchema.safeParse(attributes);
      expect(readReportItemAttributes(attributes)).toEqual(parsed.success ? parsed.data : undefined);
    }
  });

  it('reads CVE ids the same whether an element holds one or several', () => {
    expect(cveIds('CVE-2018-4937')).toEqual(['CVE-2018-4937']);
    expect(cveIds(' cve-2018-4937 ')).toEqual(['CVE-2018-4937']);
    expect(cveIds('CVE-2018-4937, cve-2018-4937,CVE-2016-2183')).toEqual(['CVE-2018-4937', 'CVE-2016-2183']);
    expect(cveIds('none')).toEqual([]);
  });

  it('copies kept strings intact, whatever their characters, also past the capacity for sharing them', () => {
    const chunk = 'Überprüfung – déjà vu: Vendor Product < 13.2, 😀';
    const values = [chunk.slice(0, 11), chunk.slice(13, 30), chunk.slice(30), chunk, ''];
    const shared = new SharedStrings(2);
    for (const value of [...values, ...values]) {
      expect(compactCopy(value)).toBe(value);
      expect(shared.get(value)).toBe(value);
    }
  });
});
