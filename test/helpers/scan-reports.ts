import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Scanner report fixtures and what a test expects of them, counted straight from the file text
 * with regular expressions, independently of the streaming parser under test.
 */
export const scannerFixtureDir = fileURLToPath(new URL('../fixtures/scanners/', import.meta.url));

export interface ExpectedCounts {
  hosts: number;
  findings: number;
  cves: number;
  bySeverity: { critical: number; high: number; medium: number; low: number };
}

const severityName = ['info', 'low', 'medium', 'high', 'critical'] as const;

function tally(items: { severity: number; cves: string[] }[], hosts: Set<string>): ExpectedCounts {
  const above = items.filter((i) => i.severity > 0);
  const bySeverity = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const i of above) bySeverity[severityName[i.severity] as keyof typeof bySeverity] += 1;
  return { hosts: hosts.size, findings: above.length, cves: new Set(above.flatMap((i) => i.cves)).size, bySeverity };
}

export function expectedNessusCounts(text: string): ExpectedCounts {
  const hosts = new Set([...text.matchAll(/<ReportHost\s+name="([^"]*)"/g)].map((m) => m[1]!));
  const items = [...text.matchAll(/<ReportItem\b([^>]*?)(\/>|>([\s\S]*?)<\/ReportItem>)/g)].map((m) => ({
    severity: Number(/\bseverity="(\d)"/.exec(m[1]!)![1]),
    cves: [...(m[3] ?? '').matchAll(/<cve>\s*(CVE-\d+-\d+)\s*<\/cve>/g)].map((c) => c[1]!),
  }));
  return tally(items, hosts);
}

/** CVSS bands as GMP reports them: ≥9 critical, ≥7 high, ≥4 medium, >0 low. */
function openvasSeverity(score: number): number {
  if (score <= 0) return 0;
  return score >= 9 ? 4 : score >= 7 ? 3 : score >= 4 ? 2 : 1;
}

export function expectedOpenvasCounts(text: string): ExpectedCounts {
  const hosts = new Set([
    ...[...text.matchAll(/<result\b[^>]*>[\s\S]*?<host>\s*([^<\s]+)/g)].map((m) => m[1]!),
    ...[...text.matchAll(/<host>\s*<ip>([^<]+)<\/ip>/g)].map((m) => m[1]!.trim()),
  ]);
  const items = [...text.matchAll(/<result\b[^>]*>([\s\S]*?)<\/result>/g)].map((m) => ({
    // The result's own <severity> follows its <nvt> block.
    severity: openvasSeverity(Number(/<\/nvt>[\s\S]*?<severity>([^<]*)<\/severity>/.exec(m[1]!)?.[1] ?? '0')),
    cves: [...m[1]!.matchAll(/<ref\s+id="(CVE-\d+-\d+)"\s+type="cve"/g)].map((c) => c[1]!),
  }));
  return tally(items, hosts);
}

export const scannerFixtures = [
  { file: 'example.nessus', format: 'nessus' as const },
  { file: 'nessus_many_vuln.xml', format: 'nessus' as const },
  { file: 'nessus_was_no_vuln.xml', format: 'nessus' as const },
  { file: 'no_vuln.xml', format: 'openvas' as const },
  { file: 'one_vuln.xml', format: 'openvas' as const },
].map((f) => {
  const text = readFileSync(path.join(scannerFixtureDir, f.file), 'utf8');
  return {
    ...f,
    path: path.join(scannerFixtureDir, f.file),
    text,
    expected: f.format === 'nessus' ? expectedNessusCounts(text) : expectedOpenvasCounts(text),
  };
});

/** Reports no scanner writes: each must be refused with an error matching `error`. */
export const hostileReports: { name: string; body: string; error: RegExp }[] = [
  {
    name: 'XXE: an external entity pointing at /etc/passwd',
    body: '<?xml version="1.0"?>\n<!DOCTYPE NessusClientData_v2 [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<NessusClientData_v2><Report name="r"><ReportHost name="h1"><ReportItem severity="3" pluginID="1" pluginName="&xxe;" port="0" protocol="tcp"/></ReportHost></Report></NessusClientData_v2>',
    error: /declares entities/,
  },
  {
    name: 'billion laughs',
    body: `<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('')}]>\n<NessusClientData_v2><Report name="&lol9;"/></NessusClientData_v2>`,
    error: /declares entities/,
  },
  {
    name: 'an entity reference without any DTD',
    body: '<NessusClientData_v2><Report name="r"><ReportHost name="h1"><ReportItem severity="3" pluginID="1" pluginName="&xxe;"/></ReportHost></Report></NessusClientData_v2>',
    error: /undefined entity/,
  },
  { name: 'JSON', body: '{"hosts": [{"name": "web01", "findings": []}]}', error: /not well-formed XML/ },
  {
    name: 'an HTML error page',
    body: '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>',
    error: /root element is <html>/,
  },
  { name: 'an empty body', body: '', error: /empty/ },
  {
    name: 'a ReportItem with an impossible severity',
    body: '<NessusClientData_v2><Report name="r"><ReportHost name="h1"><ReportItem severity="9" pluginID="1" pluginName="x"/></ReportHost></Report></NessusClientData_v2>',
    error: /severity/,
  },
];
