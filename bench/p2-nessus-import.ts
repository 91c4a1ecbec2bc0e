import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { Benchmark } from './run.ts';
import { withScratchDatabase } from './scratch-database.ts';

/**
 * P2: import generated .nessus reports of 50, 100 and 200 MB into a scratch database. Goals:
 * import throughput ≥ 0.6 × a bare saxes parse of the same file, and peak RSS ≤ 150 MB, flat as
 * the file grows. Each run is a child process, so that its peak RSS is its own.
 *
 * The item mix follows the real pyTenable example.nessus in test/fixtures/scanners: about half
 * the items informational (port scans, inventory output), the rest mostly high severity with
 * 8–9 CVEs each; a plugin always has the same severity and CVEs, as in Nessus.
 */

const sizesMb = [50, 100, 200];
const hosts = 2000;
const itemsPerHost = 60;
const pluginPool = 5000;
const cvePool = 60_000;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const childScript = fileURLToPath(new URL('./p2-nessus-import-child.ts', import.meta.url));
const run = promisify(execFile);

const childResultSchema = z.object({
  seconds: z.number(),
  peakRssMb: z.number(),
  rssBeforeMb: z.number(),
  summary: z.unknown().optional(),
});

/** A small deterministic PRNG, so that every run generates the same files. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

const prose =
  'The remote host is affected by multiple vulnerabilities, including a heap-based buffer overflow in the handling of crafted requests that an unauthenticated, remote attacker can exploit to execute arbitrary code or cause a denial of service. Überprüfung der Version – déjà vu. ';
const vectors = [
  'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
  'CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N',
  'CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H',
];

/** A plugin's fixed facts: 55 % informational; of the rest 5 % low, 15 % medium, 70 % high, 10 % critical. */
function plugin(id: number): { severity: number; cves: string[] } {
  const r = ((id * 2654435761) >>> 0) / 2 ** 32;
  const severity = r < 0.55 ? 0 : r < 0.5725 ? 1 : r < 0.64 ? 2 : r < 0.955 ? 3 : 4;
  const count = severity >= 3 ? id % 17 : severity > 0 ? id % 4 : 0;
  return {
    severity,
    cves: Array.from({ length: count }, (_, k) => `CVE-${2015 + (id % 10)}-${1000 + ((id * 31 + k * 7919) % cvePool)}`),
  };
}

function reportItem(random: () => number, host: number, index: number): string {
  const id = 10_000 + Math.floor(random() * pluginPool);
  const { severity, cves } = plugin(id);
  const port = [0, 22, 80, 443, 445, 3389][index % 6];
  const output =
    severity === 0
      ? Array.from(
          { length: 30 + (id % 60) },
          (_, i) => `  Port ${1000 + i * 7}/tcp was found to be open (service ${id % 50}-${i})`,
        ).join('\n')
      : Array.from(
          { length: 8 + (id % 14) },
          (_, i) =>
            `  Path : C:\\Program Files\\Vendor\\Product-${host}\\bin\\module${i}.dll\n  Installed version : ${id % 7}.${i}.${host % 13}\n  Fixed version     : ${1 + (id % 7)}.0.0`,
        ).join('\n\n');
  return `<ReportItem port="${port}" svc_name="www" protocol="tcp" severity="${severity}" pluginID="${id}" pluginName="Vendor Product &lt; ${id % 40}.${id % 9} Multiple Vulnerabilities (${id})" pluginFamily="General">
<agent>all</agent>${severity ? `<cvss3_base_score>${(4 + (id % 60) / 10).toFixed(1)}</cvss3_base_score><cvss3_vector>${vectors[id % vectors.length]}</cvss3_vector><cvss_base_score>7.5</cvss_base_score><cvss_vector>CVSS2#AV:N/AC:L/Au:N/C:P/I:P/A:P</cvss_vector>` : ''}
<description>${prose.repeat(3 + (id % 4))}</description><fname>plugin_${id}.nasl</fname><plugin_modification_date>2024/01/${10 + (id % 18)}</plugin_modification_date><plugin_name>Vendor Product Multiple Vulnerabilities (${id})</plugin_name><plugin_publication_date>2023/06/01</plugin_publication_date><plugin_type>${severity ? 'local' : 'remote'}</plugin_type><risk_factor>${['None', 'Low', 'Medium', 'High', 'Critical'][severity]}</risk_factor><script_version>1.${id % 20}</script_version><see_also>https://vendor.example/advisories/${id}
https://nvd.nist.gov/vuln/detail/${cves[0] ?? 'none'}</see_also><solution>Upgrade to the latest version or apply the vendor patch.</solution><synopsis>The remote service is affected by multiple vulnerabilities.</synopsis>${cves.map((c) => `<cve>${c}</cve>`).join('')}<xref>IAVA:2024-A-${id}</xref>
<plugin_output>
${output}
</plugin_output></ReportItem>
`;
}

/** Writes a report of about `targetBytes`, streaming, with hosts host-1… in turn (about 60 items each). */
async function writeReport(file: string, targetBytes: number): Promise<void> {
  const random = prng(targetBytes);
  const out = createWriteStream(file);
  const write = (text: string) =>
    out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve()));
  let written = 0;
  const put = async (text: string) => {
    written += Buffer.byteLength(text);
    await write(text);
  };
  await put(
    '<?xml version="1.0" ?>\n<NessusClientData_v2><Policy><policyName>Benchmark</policyName></Policy><Report name="P2 benchmark" xmlns:cm="http://www.nessus.org/cm">\n',
  );
  for (let h = 0; written < targetBytes; h += 1) {
    const host = 1 + (h % hosts);
    await put(
      `<ReportHost name="host-${host}"><HostProperties><tag name="HOST_END">Tue Jun 25 10:39:42 2024</tag><tag name="host-ip">10.${host >> 16}.${(host >> 8) & 255}.${host & 255}</tag><tag name="host-fqdn">host-${host}.bench.example</tag><tag name="operating-system">Linux Kernel 5.15</tag></HostProperties>\n`,
    );
    for (let i = 0; i < itemsPerHost; i += 1) await put(reportItem(random, host, i));
    await put('</ReportHost>\n');
  }
  await put('</Report></NessusClientData_v2>\n');
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

async function child(...args: string[]): Promise<z.output<typeof childResultSchema>> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', childScript, ...args], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
  });
  return childResultSchema.parse(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
}

export const p2NessusImport: Benchmark = {
  name: 'p2-nessus-import',
  summary: `import generated .nessus reports of ${sizesMb.join(', ')} MB vs a bare saxes parse; peak RSS of the import`,
  async run() {
    const dir = await mkdtemp(path.join(tmpdir(), 'patchflow-p2-'));
    try {
      await withScratchDatabase('p2', async (db, url) => {
        await db.raw(
          `insert into assets (hostname, fqdn) select 'host-' || i, 'host-' || i || '.bench.example' from generate_series(1, ${hosts}) i`,
        );
        console.log(
          'size MB   parse s  MB/s   import s  MB/s   ratio  findings  cves    rss parse  rss import (at start)',
        );
        for (const mb of sizesMb) {
          const file = path.join(dir, `report-${mb}.nessus`);
          await writeReport(file, mb * 1024 * 1024);
          const bytes = (await stat(file)).size / 2 ** 20;
          // A fresh database state for every size, so that each import inserts rather than updates.
          await db.raw('truncate findings, cves');
          const parse = await child('parse', file);
          const imported = await child('import', file, url);
          const s = z.object({ findings: z.number(), cves: z.number() }).parse(imported.summary);
          const ratio = parse.seconds / imported.seconds;
          console.log(
            `${bytes.toFixed(0).padStart(7)}  ${parse.seconds.toFixed(2).padStart(7)} ${(bytes / parse.seconds).toFixed(0).padStart(5)}   ${imported.seconds.toFixed(2).padStart(8)} ${(bytes / imported.seconds).toFixed(0).padStart(5)}   ${ratio.toFixed(2).padStart(5)}  ${String(s.findings).padStart(8)}  ${String(s.cves).padStart(5)}   ${parse.peakRssMb.toFixed(0).padStart(6)} MB  ${imported.peakRssMb.toFixed(0).padStart(6)} MB (${imported.rssBeforeMb.toFixed(0)} MB)`,
          );
          await rm(file);
        }
        console.log(
          'goals: ratio ≥ 0.6 (import throughput ÷ bare parse throughput), import peak RSS ≤ 150 MB and flat across sizes',
        );
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
