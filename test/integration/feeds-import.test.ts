import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../kernel/errors.ts';
import { importFeedFile } from '../../app/feeds.ts';
import { up as adoptVocabulary } from '../../db/migrations/015_classification_vocabulary.ts';
import { createConnectorRegistry } from '../../integrations/registry.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { feedTableCounts } from '../helpers/feed-tables.ts';

const dir = path.resolve(import.meta.dirname, '../fixtures/feeds');
const file = (rel: string) => readFileSync(path.join(dir, rel));
const registry = createConnectorRegistry();

async function count(
  t: TestDatabase,
  table: string,
  where: (q: ReturnType<TestDatabase['db']>) => unknown = () => undefined,
): Promise<number> {
  const q = t.db(table);
  where(q);
  const row = (await q.count({ n: '*' }).first()) as { n: number };
  return Number(row.n);
}

describe('feed file imports', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.drop());

  it('imports the full KEV catalog: every entry flagged, ransomware use and due dates kept', async () => {
    const raw = file('kev/known_exploited_vulnerabilities.json');
    const catalog = JSON.parse(raw.toString('utf8')) as {
      vulnerabilities: { cveID: string; knownRansomwareCampaignUse: string; dueDate: string }[];
    };
    const result = await importFeedFile(t.db, registry, 'kev', raw);
    expect(result.cves.inserted + result.cves.updated).toBe(catalog.vulnerabilities.length);
    expect(await count(t, 'cves', (q) => q.where({ kev: true }))).toBe(catalog.vulnerabilities.length);
    expect(await count(t, 'cves', (q) => q.where({ kev_ransomware: true }))).toBe(
      catalog.vulnerabilities.filter((v) => v.knownRansomwareCampaignUse === 'Known').length,
    );
    const first = catalog.vulnerabilities[0];
    const row = (await t.db('cves').where({ id: first?.cveID }).first()) as { kev_due_date: Date };
    expect(row.kev_due_date.toISOString().slice(0, 10)).toBe(first?.dueDate);
  });

  it('a catalogue that no longer lists a CVE clears its KEV facts, and only its', async () => {
    const catalog = JSON.parse(file('kev/known_exploited_vulnerabilities.json').toString('utf8')) as {
      catalogVersion: string;
      count: number;
      vulnerabilities: { cveID: string }[];
    };
    const [removed, ...kept] = catalog.vulnerabilities;
    const next = {
      ...catalog,
      catalogVersion: `${catalog.catalogVersion}.1`,
      count: kept.length,
      vulnerabilities: kept,
    };
    const result = await importFeedFile(t.db, registry, 'kev', Buffer.from(JSON.stringify(next)));
    expect(result.kevRemoved).toBe(1);
    expect(await t.db('cves').where({ id: removed!.cveID }).first()).toMatchObject({
      kev: false,
      kev_date_added: null,
      kev_due_date: null,
      kev_ransomware: false,
    });
    expect(await count(t, 'cves', (q) => q.where({ kev: true }))).toBe(kept.length);
    // The CVE itself stays, and so do its other facts; back in the catalogue, it is KEV again.
    expect(
      (await importFeedFile(t.db, registry, 'kev', file('kev/known_exploited_vulnerabilities.json'))).kevRemoved,
    ).toBe(0);
    expect(await count(t, 'cves', (q) => q.where({ kev: true }))).toBe(catalog.vulnerabilities.length);
  });

  it('imports both EPSS CSV files, taking the score date from the comment line', async () => {
    for (const f of ['epss/example-1.csv', 'epss/epss_scores-current.head.csv']) {
      const text = file(f).toString('utf8');
      const rows = text.split('\n').filter((l) => /^CVE-/.test(l));
      const result = await importFeedFile(t.db, registry, 'epss', file(f));
      expect(result.cves.inserted + result.cves.updated, f).toBe(rows.length);
    }
    // CVE-1999-0001 is in both files; the newer score date (2026-09-29) wins.
    const row = (await t.db('cves').where({ id: 'CVE-1999-0001' }).first()) as {
      epss: number;
      epss_percentile: number;
    };
    expect(row).toMatchObject({ epss: 0.03351, epss_percentile: 0.88255 });
    // Re-importing the older file must not roll the score back.
    await importFeedFile(t.db, registry, 'epss', file('epss/example-1.csv'));
    expect(((await t.db('cves').where({ id: 'CVE-1999-0001' }).first()) as { epss: number }).epss).toBe(0.03351);
  });

  it('imports the EPSS API JSON shape', async () => {
    const api = {
      status: 'OK',
      'status-code': 200,
      version: '1.0',
      total: 1,
      offset: 0,
      limit: 100,
      data: [{ cve: 'CVE-2022-27225', epss: '0.002470000', percentile: '0.647160000', date: '2026-11-20' }],
    };
    await importFeedFile(t.db, registry, 'epss', Buffer.from(JSON.stringify(api)));
    expect((await t.db('cves').where({ id: 'CVE-2022-27225' }).first()) as object).toMatchObject({
      epss: 0.00247,
      epss_percentile: 0.64716,
    });
  });

  it('imports NVD API 2.0 pages, with CVSS and exploit-tagged references', async () => {
    for (const f of ['cve/nvd-api-2.0/full-page.json', 'cve/nvd-api-2.0/single-entry.json']) {
      const page = JSON.parse(file(f).toString('utf8')) as {
        vulnerabilities: {
          cve: { id: string; metrics?: { cvssMetricV31?: unknown[] }; references?: { tags?: string[] }[] };
        }[];
      };
      const ids = page.vulnerabilities.map((v) => v.cve.id);
      const result = await importFeedFile(t.db, registry, 'nvd', file(f));
      expect(result.cves.inserted + result.cves.updated, f).toBe(ids.length);
      expect(await count(t, 'cves', (q) => q.whereIn('id', ids).whereNotNull('cvss_v3_vector'))).toBe(
        page.vulnerabilities.filter((v) => v.cve.metrics?.cvssMetricV31?.length).length,
      );
      expect(await count(t, 'cves', (q) => q.whereIn('id', ids).where({ exploit_evidence: 'poc' }))).toBe(
        page.vulnerabilities.filter((v) => v.cve.references?.some((r) => r.tags?.includes('Exploit'))).length,
      );
    }
    expect((await t.db('cves').where({ id: 'CVE-2022-1576' }).first()) as object).toMatchObject({
      cvss_v3_vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N',
      cvss_v3_score: 6.5,
    });
  });

  it('imports every CVE JSON 5 record, CVSS from the CNA or CISA ADP container, without touching KEV facts', async () => {
    const files = readdirSync(path.join(dir, 'cve/cve-json5'));
    for (const f of files) await importFeedFile(t.db, registry, 'nvd', file(`cve/cve-json5/${f}`));
    const ids = files.map((f) => f.replace('.json', ''));
    expect(await count(t, 'cves', (q) => q.whereIn('id', ids))).toBe(files.length);
    const withV3 = files
      .filter((f) => /"cvssV3_[01]"/.test(file(`cve/cve-json5/${f}`).toString('utf8')))
      .map((f) => f.replace('.json', ''));
    expect(await count(t, 'cves', (q) => q.whereIn('id', withV3).whereNotNull('cvss_v3_vector'))).toBe(withV3.length);
    // ADP-only CVSS (CVE-2014-0497), CNA CVSS 4.0 (CVE-2024-5910).
    expect((await t.db('cves').where({ id: 'CVE-2014-0497' }).first()) as object).toMatchObject({
      cvss_v3_score: 8.8,
      kev: true,
      exploit_evidence: 'active',
    });
    expect((await t.db('cves').where({ id: 'CVE-2024-5910' }).first()) as object).toMatchObject({
      cvss_v4_score: 9.3,
      cvss_v4_vector: expect.stringMatching(/^CVSS:4\.0\/AV:N/),
    });
  });

  it('SSVC: CISA’s stated Automatable and Technical Impact win over values derived from the vector, whatever their case', async () => {
    for (const id of ['CVE-2022-2586', 'CVE-2023-20273'])
      await importFeedFile(t.db, registry, 'nvd', file(`cve/cve-json5/${id}.json`));
    const ssvc = async (id: string) =>
      (await t.db('cves').where({ id }).first('cvss_v3_vector', 'automatable', 'total_impact')) as {
        cvss_v3_vector: string;
        automatable: boolean;
        total_impact: boolean;
      };
    // C:N/I:L/A:H alone would read "partial"; CISA says "total".
    expect(await ssvc('CVE-2022-2586')).toEqual({
      cvss_v3_vector: 'CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:N/I:L/A:H',
      automatable: false,
      total_impact: true,
    });
    // CISA wrote "No" and "Total" here.
    expect(await ssvc('CVE-2023-20273')).toMatchObject({ automatable: false, total_impact: true });
    // A later record without CISA's container keeps what CISA stated.
    await t.db('cves').where({ id: 'CVE-2022-2586' }).update({ last_modified: null });
    await importFeedFile(
      t.db,
      registry,
      'nvd',
      Buffer.from(
        JSON.stringify({
          dataType: 'CVE_RECORD',
          dataVersion: '5.1',
          cveMetadata: { cveId: 'CVE-2022-2586', state: 'PUBLISHED', dateUpdated: '2030-01-01T00:00:00' },
          containers: { cna: { descriptions: [{ lang: 'en', value: 'nft_object use-after-free' }] } },
        }),
      ),
    );
    expect(await ssvc('CVE-2022-2586')).toMatchObject({ total_impact: true });
  });

  it('imports MSRC CVRF documents (BOM, prefixed and default namespaces): KBs linked to the CVEs they fix', async () => {
    for (const f of ['cvrfDocument-2017-May-B.xml', 'cvrfDocument-2023-Dec.xml']) {
      const xml = file(`advisories/msrc-cvrf/${f}`).toString('utf8');
      const vulnerabilities = (xml.match(/<(?:vuln:)?Vulnerability[\s>]/g) ?? []).length;
      const kbs = new Set(
        [...xml.matchAll(/<Remediation Type="Vendor Fix">\s*<Description>(\d+)<\/Description>/g)].map(
          (m) => `KB${m[1]}`,
        ),
      );
      const id = /<(?:cvrf:)?ID>([^<]+)</.exec(xml)?.[1];
      const result = await importFeedFile(t.db, registry, 'msrc', file(`advisories/msrc-cvrf/${f}`));
      expect(result.advisories.advisories).toBe(1);
      expect(await count(t, 'advisory_cves', (q) => q.where({ advisory_id: `MSRC-${id}` }))).toBe(vulnerabilities);
      expect(await count(t, 'patches', (q) => q.where({ advisory_id: `MSRC-${id}` }).where('id', 'like', 'KB%'))).toBe(
        kbs.size,
      );
    }
    // KB5033371 (Windows 10 1809 / Server 2019) fixes exactly the CVEs whose remediations name it.
    const xml = file('advisories/msrc-cvrf/cvrfDocument-2023-Dec.xml').toString('utf8');
    const fixedBy = [...xml.matchAll(/<Vulnerability [\s\S]*?<\/Vulnerability>/g)].filter((m) =>
      m[0].includes('<Description>5033371</Description>'),
    ).length;
    expect(await count(t, 'patch_cves', (q) => q.where({ patch_id: 'KB5033371' }))).toBe(fixedBy);
    expect((await t.db('patches').where({ id: 'KB5033371' }).first()) as object).toMatchObject({
      platform: 'windows',
      classification: 'Security Updates',
      title: '2023-Dec Security Update KB5033371',
      target_version: '10.0.17763.5206',
      vendor: 'Microsoft',
    });
    const advisory = (await t.db('advisories').where({ id: 'MSRC-2023-Dec' }).first()) as {
      severity: string;
      data: { remediations: { vendorRef: string; product: string }[] };
    };
    expect(advisory.severity).toBe('Critical');
    expect(advisory.data.remediations.find((r) => r.vendorRef === 'KB5033371')?.product).toBe(
      'Windows 10 Version 1809 for 32-bit Systems; Windows 10 Version 1809 for x64-based Systems; Windows 10 Version 1809 for ARM64-based Systems; Windows Server 2019; Windows Server 2019 (Server Core installation)',
    );
  });

  it('imports the three CSAF advisories; vendor_fix remediations become patches', async () => {
    for (const f of readdirSync(path.join(dir, 'advisories/csaf'))) {
      const doc = JSON.parse(file(`advisories/csaf/${f}`).toString('utf8')) as {
        document: { tracking: { id: string } };
        vulnerabilities: { cve: string; remediations?: { category: string }[] }[];
      };
      await importFeedFile(t.db, registry, 'csaf', file(`advisories/csaf/${f}`));
      const id = doc.document.tracking.id;
      expect(await count(t, 'advisory_cves', (q) => q.where({ advisory_id: id }))).toBe(doc.vulnerabilities.length);
      const hasFix = doc.vulnerabilities.some((v) => v.remediations?.some((r) => r.category === 'vendor_fix'));
      expect(await count(t, 'patches', (q) => q.where({ advisory_id: id })), id).toBe(hasFix ? 1 : 0);
    }
    expect((await t.db('patches').where({ id: 'RHSA-2022:0011' }).first()) as object).toMatchObject({
      platform: 'linux',
      classification: 'Security Updates',
      severity: 'Important',
    });
    expect(await count(t, 'patch_cves', (q) => q.where({ patch_id: 'RHSA-2022:0011', cve_id: 'CVE-2020-10188' }))).toBe(
      1,
    );
  });

  it('migration 015 turns the vendor words stored before the vocabulary into its names, and leaves unknown ones', async () => {
    // As the feeds stored them before: MSRC's SubType and family, CSAF's "Security Update" and family.
    const before = [
      { id: 'VOC-KB1', classification: 'Monthly Rollup', platform: 'ESU', products: ['Windows Server 2012 R2'] },
      { id: 'VOC-KB2', classification: 'Security Update', platform: 'Microsoft Office', products: [] },
      {
        id: 'VOC-MAC',
        classification: 'Security Update',
        platform: 'Microsoft Office',
        products: ['Microsoft Office LTSC for Mac 2021'],
      },
      { id: 'VOC-RHSA', classification: 'Security Update', platform: 'Red Hat Enterprise Linux', products: [] },
      { id: 'VOC-AZ', classification: 'Hand-typed', platform: 'Azure', products: [] },
    ];
    await t.db('patches').insert(
      before.map((p) => ({
        id: p.id,
        title: p.id,
        vendor_ref: p.id,
        classification: p.classification,
        platform: p.platform,
      })),
    );
    await t
      .db('patch_products')
      .insert(
        before.flatMap((p) =>
          p.products.map((name) => ({ patch_id: p.id, product: name.toLowerCase(), product_name: name })),
        ),
      );
    await t.db('patch_baselines').insert([
      {
        id: 'voc-windows',
        platform: 'Windows',
        rules: JSON.stringify([
          { classifications: ['Security Update', 'Security Updates'], approveAfter: '3d' },
          { approveAfter: '30d' },
        ]),
      },
      { id: 'voc-office', platform: 'Microsoft Office', rules: JSON.stringify([{ approveAfter: '3d' }]) },
    ]);

    await adoptVocabulary(t.db);

    const after = (await t
      .db('patches')
      .whereIn(
        'id',
        before.map((p) => p.id),
      )
      .orderBy('id')
      .select('id', 'classification', 'platform')) as object[];
    expect(after).toEqual([
      { id: 'VOC-AZ', classification: 'Hand-typed', platform: 'Azure' },
      { id: 'VOC-KB1', classification: 'Security Updates', platform: 'windows' },
      { id: 'VOC-KB2', classification: 'Security Updates', platform: 'windows' },
      { id: 'VOC-MAC', classification: 'Security Updates', platform: 'macos' },
      { id: 'VOC-RHSA', classification: 'Security Updates', platform: 'linux' },
    ]);
    expect(
      await t
        .db('patch_baselines')
        .whereIn('id', ['voc-windows', 'voc-office'])
        .orderBy('id')
        .select('id', 'platform', 'rules'),
    ).toEqual([
      // A family is not respelled as a platform: that would widen what the baseline approves.
      { id: 'voc-office', platform: 'Microsoft Office', rules: [{ approveAfter: '3d' }] },
      {
        id: 'voc-windows',
        platform: 'windows',
        rules: [{ classifications: ['Security Updates'], approveAfter: '3d' }, { approveAfter: '30d' }],
      },
    ]);
    // Stored in the vocabulary already, a second run changes nothing.
    await adoptVocabulary(t.db);
    expect(
      await t
        .db('patches')
        .whereIn(
          'id',
          before.map((p) => p.id),
        )
        .orderBy('id')
        .select('id', 'classification', 'platform'),
    ).toEqual(after);
  });

  it('merges feeds without erasing each other: a vendor CVSS fills gaps only, KEV survives NVD', async () => {
    // CVE-2018-2628 has KEV (catalog), CVSS from CVE JSON 5; an advisory stating another vector must not replace it.
    const csaf = JSON.parse(file('advisories/csaf/bsi-2022-0001.json').toString('utf8')) as {
      document: { tracking: { id: string } };
      vulnerabilities: { cve: string; scores: { cvss_v3: { vectorString: string; baseScore: number } }[] }[];
    };
    csaf.document.tracking.id = 'TEST-2018-2628';
    const v = csaf.vulnerabilities[0];
    if (!v || !v.scores[0]) throw new Error('fixture changed');
    v.cve = 'CVE-2018-2628';
    v.scores[0].cvss_v3 = {
      ...v.scores[0].cvss_v3,
      vectorString: 'CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N',
      baseScore: 1.6,
    };
    await importFeedFile(t.db, registry, 'csaf', Buffer.from(JSON.stringify(csaf)));
    const row = (await t.db('cves').where({ id: 'CVE-2018-2628' }).first()) as object;
    expect(row).toMatchObject({
      kev: true,
      cvss_v3_score: 9.8,
      cvss_v3_vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
    });
    // Re-importing KEV keeps NVD/CVE5 facts.
    await importFeedFile(t.db, registry, 'kev', file('kev/known_exploited_vulnerabilities.json'));
    expect((await t.db('cves').where({ id: 'CVE-2018-2628' }).first()) as object).toMatchObject({
      cvss_v3_score: 9.8,
      exploit_evidence: 'active',
    });
  });

  describe('hostile and damaged files leave the database unchanged', () => {
    const kev = file('kev/known_exploited_vulnerabilities.json');
    const cvrf = file('advisories/msrc-cvrf/cvrfDocument-2023-Dec.xml');
    const cases: { name: string; kind: string; body: Buffer; message: RegExp }[] = [
      {
        name: 'an HTML error page instead of JSON',
        kind: 'kev',
        body: Buffer.from(
          '<!DOCTYPE html>\n<html><head><title>Access Denied</title></head><body>Reference #18.2f</body></html>',
        ),
        message: /HTML page \("Access Denied"\)/,
      },
      {
        name: 'truncated KEV JSON',
        kind: 'kev',
        body: kev.subarray(0, Math.floor(kev.length / 2)),
        message: /not valid JSON.*truncated/,
      },
      {
        name: 'KEV catalog whose count disagrees with its entries',
        kind: 'kev',
        body: Buffer.from(kev.toString('utf8').replace('"count": 1404', '"count": 1500')),
        message: /count 1500 but lists 1404/,
      },
      {
        name: 'KEV entry with a malformed CVE id',
        kind: 'kev',
        body: Buffer.from(kev.toString('utf8').replace('"CVE-2025-48384"', '"CVE-25-48384"')),
        message: /vulnerabilities\.0\.cveID/,
      },
      {
        name: 'EPSS CSV with bad rows',
        kind: 'epss',
        body: Buffer.from(
          file('epss/example-1.csv')
            .toString('utf8')
            .replace('CVE-1999-0003,0.04409,0.92440', 'CVE-1999-0003,high,0.92440')
            .concat('not-a-cve,0.1,0.2\n'),
        ),
        message: /2 bad row\(s\); first: line 5 bad epss/,
      },
      {
        name: 'EPSS CSV without its score-date line',
        kind: 'epss',
        body: Buffer.from(file('epss/example-1.csv').toString('utf8').split('\n').slice(1).join('\n')),
        message: /score_date/,
      },
      {
        name: 'truncated CVRF XML',
        kind: 'msrc',
        body: cvrf.subarray(0, Math.floor(cvrf.length / 3)),
        message: /not well-formed XML/,
      },
      {
        name: 'CVRF with an XXE external entity',
        kind: 'msrc',
        body: Buffer.from(
          `<?xml version="1.0"?>\n<!DOCTYPE cvrfdoc [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<cvrfdoc xmlns="http://www.icasi.org/CVRF/schema/cvrf/1.1"><DocumentTitle>&xxe;</DocumentTitle></cvrfdoc>`,
        ),
        message: /DOCTYPE.*external-entity/,
      },
      {
        name: 'a CSAF document that is not CSAF 2.0',
        kind: 'csaf',
        body: Buffer.from(JSON.stringify({ document: { csaf_version: '1.2' } })),
        message: /invalid CSAF document: document\.category/,
      },
      { name: 'an empty file', kind: 'nvd', body: Buffer.alloc(0), message: /empty/ },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const before = await feedTableCounts(t.db);
        const err = await importFeedFile(t.db, registry, c.kind, c.body).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InputError);
        expect((err as Error).message).toMatch(c.message);
        expect(await feedTableCounts(t.db)).toEqual(before);
      });
    }

    it('a database failure after CVE and advisory rows were written rolls all of them back', async () => {
      // Patches are written last; make the database refuse them, as a disk-full or lock timeout would.
      await t.db.raw(
        `create function refuse_patch() returns trigger language plpgsql as $$ begin raise exception 'patches refused by test'; end $$`,
      );
      await t.db.raw(
        'create trigger refuse_patch before insert on patches for each row execute function refuse_patch()',
      );
      try {
        const before = await feedTableCounts(t.db);
        const doc = JSON.parse(file('advisories/csaf/rhsa-2022_0011.json').toString('utf8')) as {
          document: { tracking: { id: string } };
          vulnerabilities: { cve: string }[];
        };
        doc.document.tracking.id = 'RHSA-2099:0001';
        const v = doc.vulnerabilities[0];
        if (v) v.cve = 'CVE-2099-0001';
        await expect(importFeedFile(t.db, registry, 'csaf', Buffer.from(JSON.stringify(doc)))).rejects.toThrow(
          /patches refused by test/,
        );
        expect(await feedTableCounts(t.db)).toEqual(before);
      } finally {
        await t.db.raw('drop trigger refuse_patch on patches');
        await t.db.raw('drop function refuse_patch()');
      }
    });
  });
});
