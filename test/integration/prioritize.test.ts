import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertAdvisories } from '../../db/repositories/advisories.ts';
import { upsertAssets, assetInputSchema } from '../../db/repositories/assets.ts';
import { upsertCves } from '../../db/repositories/cves.ts';
import { InputError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { policyPresets, prioritizationPolicySchema } from '../../prioritization/policy.ts';
import { prioritizeAssetPatches, prioritizeFindings } from '../../prioritization/query.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const now = new Date('2026-11-23T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000).toISOString();
const critical = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H';

describe('risk-based prioritisation in SQL', () => {
  let t: TestDatabase;
  const ids: Record<string, number> = {};
  beforeAll(async () => {
    t = await createTestDatabase();
    const assets = await upsertAssets(
      t.db,
      [
        { hostname: 'edge-fw-01', exposure: 'internet', criticality: 1 },
        { hostname: 'app-02', exposure: 'internal', criticality: 2 },
        { hostname: 'web-03', exposure: 'internet', criticality: 3 },
        { hostname: 'lab-09', exposure: 'isolated', criticality: 4 },
      ].map((a) => assetInputSchema.parse(a)),
    );
    await upsertCves(t.db, [
      {
        id: 'CVE-2099-0001',
        cvssV3Vector: critical,
        cvssV3Score: 9.8,
        epss: 0.94,
        epssPercentile: 0.995,
        epssDate: '2026-11-22',
        kev: { dateAdded: '2026-11-01', ransomware: true },
      },
      {
        id: 'CVE-2099-0002',
        cvssV3Vector: critical,
        cvssV3Score: 9.8,
        epss: 0.001,
        epssPercentile: 0.1,
        epssDate: '2026-11-22',
      },
      {
        id: 'CVE-2099-0003',
        cvssV3Vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N',
        cvssV3Score: 6.5,
        epss: 0.2,
        epssPercentile: 0.96,
        epssDate: '2026-11-22',
      },
    ]);
    const finding = async (
      key: string,
      host: string,
      cve: string,
      severity: number,
      firstSeenHoursAgo: number,
      status = 'open',
    ) => {
      const [row] = (await t
        .db('findings')
        .insert({
          asset_id: assets.get(host),
          source: 'nessus',
          plugin_id: key,
          cve_id: cve,
          severity,
          title: `finding ${key}`,
          status,
          first_seen: hoursAgo(firstSeenHoursAgo),
          last_seen: now.toISOString(),
        })
        .returning('id')) as { id: number }[];
      ids[key] = row?.id ?? -1;
    };
    await finding('kev-edge', 'edge-fw-01', 'CVE-2099-0001', 4, 1);
    await finding('kev-app', 'app-02', 'CVE-2099-0001', 4, 1);
    await finding('crit-web', 'web-03', 'CVE-2099-0002', 4, 240);
    await finding('poc-lab', 'lab-09', 'CVE-2099-0003', 2, 1);
    await finding('nocve-edge', 'edge-fw-01', '', 3, 28 * 24);
    await finding('crit-edge', 'edge-fw-01', 'CVE-2099-0002', 4, 1);
    await finding('fixed-edge', 'edge-fw-01', 'CVE-2099-0001', 4, 1, 'fixed');
    await upsertAdvisories(t.db, [
      {
        id: 'TEST-ADV-1',
        source: 'test',
        title: 'test advisory',
        cves: ['CVE-2099-0001', 'CVE-2099-0002', 'CVE-2099-0003'],
        data: {},
        remediations: [
          { vendorRef: 'KB9000001', title: 'fixes 0001 and 0002', cves: ['CVE-2099-0001', 'CVE-2099-0002'] },
          { vendorRef: 'KB9000002', title: 'fixes 0003', cves: ['CVE-2099-0003'] },
        ],
      },
    ]);
  });
  afterAll(async () => t.drop());

  it('derives SSVC automatable and technical impact from the stored vector', async () => {
    const rows = (await t.db('cves').select('id', 'automatable', 'total_impact').orderBy('id')) as {
      id: string;
      automatable: boolean;
      total_impact: boolean;
    }[];
    expect(rows).toEqual([
      { id: 'CVE-2099-0001', automatable: true, total_impact: true },
      { id: 'CVE-2099-0002', automatable: true, total_impact: true },
      { id: 'CVE-2099-0003', automatable: false, total_impact: false },
    ]);
  });

  it('puts the KEV ransomware CVE on the internet-facing tier-1 host first, with a readable reason', async () => {
    const items = await prioritizeFindings(t.db, policyPresets.default, { view: 'all', limit: 50, now });
    expect(items.map((i) => `${i.hostname} ${i.cveId ?? '-'} ${i.decision}`)).toEqual([
      'edge-fw-01 CVE-2099-0001 Act',
      'app-02 CVE-2099-0001 Act',
      'edge-fw-01 CVE-2099-0002 Attend',
      'edge-fw-01 - Track',
      'web-03 CVE-2099-0002 Track',
      'lab-09 CVE-2099-0003 Track',
    ]);
    const [top] = items;
    expect(top?.score).toBe(99.3);
    expect(top?.explanation).toBe(
      'KEV (ransomware) · EPSS 0.94 (p99) · CVSS 9.8 AV:N · internet-facing tier-1 → Act, due in 71h',
    );
    expect(top?.sla).toMatchObject({ rule: 'kev-internet-tier1', overdue: false, forensicTriage: false });
    expect(top?.components.points).toEqual({ cvss: 34.3, threat: 35, context: 30 });
    expect(items.find((i) => i.cveId === 'CVE-2099-0003')?.ssvc).toEqual({
      exploitation: 'poc',
      automatable: false,
      technicalImpact: 'partial',
      missionImpact: 'low',
    });
    expect(items.find((i) => i.cveId === null)?.explanation).toMatch(
      /^scanner severity ≈ CVSS 8\.0 · internet-facing tier-1 → Track, due in 48h$/,
    );
    expect(items.some((i) => i.findingId === ids['fixed-edge'])).toBe(false);
  });

  it('lists overdue and due-soon findings by deadline', async () => {
    const overdue = await prioritizeFindings(t.db, policyPresets.default, { view: 'overdue', limit: 50, now });
    expect(overdue.map((i) => i.findingId)).toEqual([ids['crit-web']]);
    expect(overdue[0]?.explanation).toMatch(
      /^EPSS 0\.00 \(p10\) · CVSS 9\.8 AV:N · internet-facing tier-3 → Track, overdue by 72h$/,
    );
    const dueSoon = await prioritizeFindings(t.db, policyPresets.default, { view: 'due-soon', limit: 50, now });
    // Same deadline for the two 72-hour findings on edge-fw-01: the higher score comes first.
    expect(dueSoon.map((i) => i.findingId)).toEqual([ids['nocve-edge'], ids['kev-edge'], ids['crit-edge']]);
  });

  it('applies BOD 26-04 timelines, flagging forensic triage on the 3-day tier', async () => {
    const items = await prioritizeFindings(t.db, policyPresets['bod-26-04'], { view: 'all', limit: 50, now });
    const byKey = Object.fromEntries(Object.entries(ids).map(([k, id]) => [k, items.find((i) => i.findingId === id)]));
    expect(byKey['kev-edge']?.sla).toMatchObject({
      rule: 'bod-26-04 urgent-forensic',
      forensicTriage: true,
      dueAt: new Date(Date.parse(hoursAgo(1)) + 3 * 86_400_000).toISOString(),
    });
    expect(byKey['kev-edge']?.explanation).toMatch(/→ Act, due in 71h \+ forensic triage$/);
    expect(byKey['kev-app']?.sla.rule).toBe('bod-26-04 urgent-forensic');
    expect(byKey['crit-web']?.sla).toMatchObject({ rule: 'bod-26-04 urgent', forensicTriage: false });
    expect(byKey['poc-lab']?.sla).toMatchObject({ rule: 'bod-26-04 upgrade', dueAt: null });
    expect(byKey['nocve-edge']?.sla.rule).toBe('bod-26-04 standard');
  });

  it('takes every threshold from the policy: custom rules and weights change deadlines and scores', async () => {
    const policy = prioritizationPolicySchema.parse({
      weights: { exposure: { internet: 0, internal: 0, isolated: 0 }, tier: [0, 0, 0, 0] },
      sla: {
        kind: 'rules',
        rules: [
          { name: 'poc-fast', within: '1d', when: { minEpss: 0.15 } },
          { name: 'everything', within: '365d' },
        ],
      },
    });
    const items = await prioritizeFindings(t.db, policy, { view: 'all', limit: 50, now });
    expect(items.find((i) => i.findingId === ids['poc-lab'])?.sla.rule).toBe('poc-fast');
    expect(items.find((i) => i.findingId === ids['crit-web'])?.sla.rule).toBe('everything');
    expect(items[0]?.score).toBe(69.3);
  });

  it('refuses a policy with a bad threshold, naming the field', () => {
    expect(() =>
      parseInput(
        prioritizationPolicySchema,
        { ssvc: { highEpss: 2 }, sla: { kind: 'rules', rules: [{ name: 'x', within: 'soon' }] } },
        'policy',
      ),
    ).toThrow(InputError);
    try {
      parseInput(
        prioritizationPolicySchema,
        { ssvc: { highEpss: 2 }, sla: { kind: 'rules', rules: [{ name: 'x', within: 'soon' }] } },
        'policy',
      );
    } catch (err) {
      expect((err as InputError).details.map((d) => d.path.join('.'))).toEqual(['ssvc.highEpss', 'sla.rules.0.within']);
    }
  });

  it('ranks asset × patch pairs by the worst open finding each patch fixes', async () => {
    const pairs = await prioritizeAssetPatches(t.db, policyPresets.default, { view: 'all', limit: 50, now });
    expect(pairs.map((p) => `${p.hostname} ${p.patchId} ${p.findings}`)).toEqual([
      'edge-fw-01 KB9000001 2',
      'app-02 KB9000001 1',
      'web-03 KB9000001 1',
      'lab-09 KB9000002 1',
    ]);
    expect(pairs[0]?.score).toBe(99.3);
    expect(pairs[0]?.explanation).toMatch(
      /^KB9000001 on edge-fw-01 fixes CVE-2099-0001 and 1 more: KEV \(ransomware\)/,
    );
  });
});

describe('deadlines follow CISA: the KEV due date and listing date', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.drop());

  async function kevFinding(cve: string, kev: { dateAdded: string; dueDate: string }, firstSeen: string) {
    const assets = await upsertAssets(t.db, [
      assetInputSchema.parse({ hostname: `kev-${cve.toLowerCase()}`, exposure: 'internal', criticality: 3 }),
    ]);
    await upsertCves(t.db, [{ id: cve, cvssV3Vector: critical, cvssV3Score: 9.8, kev: { ...kev, ransomware: false } }]);
    const [row] = (await t
      .db('findings')
      .insert({
        asset_id: assets.get(`kev-${cve.toLowerCase()}`),
        source: 'nessus',
        plugin_id: cve,
        cve_id: cve,
        severity: 4,
        title: cve,
        status: 'open',
        first_seen: firstSeen,
        last_seen: now.toISOString(),
      })
      .returning('id')) as { id: number }[];
    const items = await prioritizeFindings(t.db, policyPresets.default, { view: 'all', limit: 50, now });
    return items.find((i) => i.findingId === row!.id)!;
  }

  it('a KEV CVE first seen after its CISA due date is overdue, by CISA’s date', async () => {
    const f = await kevFinding(
      'CVE-2099-1001',
      { dateAdded: '2026-01-20', dueDate: '2026-02-10' },
      '2026-11-20T08:00:00Z',
    );
    expect(f.sla).toMatchObject({ rule: 'CISA KEV due date', dueAt: '2026-02-11T00:00:00.000Z', overdue: true });
    expect(f.explanation).toMatch(/overdue by \d+d$/);
  });

  it('the policy’s clock starts when CISA listed the CVE, if that is after the finding was first seen', async () => {
    const f = await kevFinding(
      'CVE-2099-1002',
      { dateAdded: '2026-11-22', dueDate: '2026-12-13' },
      '2026-10-01T00:00:00Z',
    );
    // Listed yesterday: the policy's KEV rule (72 h for an internal tier-3 host, say) runs from the listing, not from October.
    expect(f.sla.overdue).toBe(false);
    expect(f.sla.rule).not.toBe('CISA KEV due date');
    expect(Date.parse(f.sla.dueAt!)).toBeGreaterThan(Date.parse('2026-11-22T00:00:00Z'));
    expect(Date.parse(f.sla.dueAt!)).toBeLessThanOrEqual(Date.parse('2026-12-14T00:00:00Z'));
  });
});
