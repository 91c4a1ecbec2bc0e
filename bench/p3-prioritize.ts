import type { Db } from '../db/knex.ts';
import { policyPresets } from '../prioritization/policy.ts';
import { prioritizeFindings } from '../prioritization/query.ts';
import type { Benchmark } from './run.ts';
import { withScratchDatabase } from './scratch-database.ts';

/**
 * P3: rank a million open findings with the full KEV/EPSS/CVSS/asset scoring, SSVC decision and SLA
 * deadline, against a bare join-and-sort over the same rows. Goals: ≤ 10 s, ≤ 2× the baseline.
 */

const findings = 1_000_000;
const assets = 20_000;
const cves = 100_000;
const runs = 3;

const vectors = [
  'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
  'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H',
  'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H',
  'CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N',
  'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N',
  'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H',
];
const scores = [9.8, 8.8, 7.8, 6.5, 6.1, 5.9];

async function generate(db: Db): Promise<void> {
  await db.raw(`insert into assets (hostname, exposure, criticality)
    select 'host-' || i, (array['internet','internal','internal','isolated'])[1 + i % 4], 1 + (i * 7) % 4
    from generate_series(1, ${assets}) i`);
  // About 1.5 % in KEV (a tenth of those with ransomware use), EPSS skewed low as in the real distribution.
  await db.raw(`insert into cves (id, cvss_v3_vector, cvss_v3_score, epss, epss_percentile, epss_date, kev, kev_date_added, kev_ransomware, exploit_evidence)
    select 'CVE-2020-' || lpad(i::text, 6, '0'),
           (array['${vectors.join("','")}'])[1 + i % ${vectors.length}],
           (array[${scores.join(',')}])[1 + i % ${scores.length}],
           round((random() ^ 6)::numeric, 5), round(random()::numeric, 5), date '2026-11-20',
           i % 67 = 0, case when i % 67 = 0 then date '2026-01-01' end, i % 670 = 0,
           case when i % 41 = 0 then 'poc' end
    from generate_series(1, ${cves}) i`);
  await db.raw(`insert into findings (asset_id, source, plugin_id, cve_id, severity, title, status, first_seen, last_seen)
    select a.id, 'bench', i::text, 'CVE-2020-' || lpad((1 + (i::bigint * 7919) % ${cves})::text, 6, '0'), 1 + i % 4, 'finding ' || i,
           case when i % 20 = 0 then 'fixed' else 'open' end,
           now() - make_interval(days => i % 120), now()
    from generate_series(1, ${findings}) i
    join (select id, row_number() over () as n from assets) a on a.n = 1 + i % ${assets}`);
  await db.raw('analyze');
}

async function median(label: string, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  times.sort((a, b) => a - b);
  const m = times[Math.floor(times.length / 2)] ?? 0;
  console.log(`${label.padEnd(44)} ${m.toFixed(2)} s (runs: ${times.map((t) => t.toFixed(2)).join(', ')})`);
  return m;
}

export const p3Prioritize: Benchmark = {
  name: 'p3-prioritize',
  summary: `score ${findings.toLocaleString('en')} findings (KEV/EPSS/CVSS/asset, SSVC, SLA) vs a bare join + order by`,
  async run() {
    await withScratchDatabase('p3', async (db) => {
      const started = Date.now();
      await generate(db);
      console.log(
        `generated ${findings.toLocaleString('en')} findings on ${assets} assets over ${cves} CVEs in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );

      const baseline = await median('baseline: join + order by cvss, epss', () =>
        db.raw(`select f.id, a.hostname, f.cve_id, c.cvss_v3_score, c.epss
                from findings f join assets a on a.id = f.asset_id left join cves c on c.id = f.cve_id
                where f.status = 'open' order by c.cvss_v3_score desc nulls last, c.epss desc nulls last, f.id limit 100`),
      );
      const scored = await median('prioritized: default policy, view all', () =>
        prioritizeFindings(db, policyPresets.default, { view: 'all', limit: 100 }),
      );
      const bod = await median('prioritized: BOD 26-04 policy, view overdue', () =>
        prioritizeFindings(db, policyPresets['bod-26-04'], { view: 'overdue', limit: 100 }),
      );
      console.log(
        `ratio prioritized/baseline: ${(scored / baseline).toFixed(2)}× (default), ${(bod / baseline).toFixed(2)}× (BOD 26-04 overdue); goals ≤ 10 s and ≤ 2×`,
      );
    });
  },
};
