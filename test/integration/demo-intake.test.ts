import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startStack, type TestStack } from '../helpers/stack.ts';

interface Row {
  hostname: string;
  cveId: string;
  decision: string;
  score: number;
  explanation: string;
  components: { kev: boolean };
}

describe('demo intake: the prioritised list a coordinator sees first', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => stack?.stop());

  it('loads the demo scan, KEV and EPSS through the real importers, idempotently', async () => {
    const first = await api<{ scan: { hosts: number; findings: number; cves: number; unmatchedHosts: string[] } }>(
      stack,
      'POST',
      '/api/demo/seed',
    );
    expect(first.status).toBe(200);
    expect(first.body.scan).toMatchObject({ hosts: 5, findings: 8, cves: 7, unmatchedHosts: [] });
    await api(stack, 'POST', '/api/demo/seed');
    // Informational items are counted by the scan but not stored; re-seeding adds nothing.
    expect(await stack.ctx.db('findings')).toHaveLength(8);
  });

  it('ranks exploited, internet-facing findings first, and every row says why', async () => {
    const { body } = await api<{ items: Row[] }>(stack, 'GET', '/api/findings/prioritized?limit=50');
    const rows = body.items;
    expect(rows).toHaveLength(8);
    expect(rows[0]).toMatchObject({ hostname: 'web-01', cveId: 'CVE-2021-44228', decision: 'Act' });
    expect(rows[0]!.explanation).toMatch(
      // Log4Shell's CISA due date (2021-12-24) passed long ago: CISA's date is the deadline, so it is overdue.
      /^KEV \(ransomware\) · EPSS 0\.94 \(p99\) · CVSS 10\.0 AV:N · internet-facing tier-3 → Act, overdue by \d+d$/,
    );
    // Every known-exploited finding outranks every finding nobody has seen exploited.
    const lastKev = rows.map((r) => r.components.kev).lastIndexOf(true);
    const firstOther = rows.findIndex((r) => !r.components.kev);
    expect(lastKev).toBeLessThan(firstOther);
    expect(rows.at(-1)).toMatchObject({ hostname: 'db-01', cveId: 'CVE-2023-5678' });
    for (const r of rows) expect(r.explanation.length).toBeGreaterThan(20);
    expect(rows.map((r) => r.score)).toEqual([...rows.map((r) => r.score)].sort((a, b) => b - a));
  });
});
