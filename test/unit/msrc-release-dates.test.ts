import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseCvrf } from '../../integrations/feeds/msrc/parse.ts';

const xml = gunzipSync(
  readFileSync(new URL('../fixtures/feeds/advisories/msrc-cvrf/cvrfDocument-2026-Jan.xml.gz', import.meta.url)),
).toString('utf8');

/** Each CVE's first revision date, read from the document by a plain pattern, independently of the parser. */
const releasedOn = new Map(
  [...xml.matchAll(/<vuln:Vulnerability [\s\S]*?<\/vuln:Vulnerability>/g)].map((m) => {
    const cve = /<vuln:CVE>([^<]+)</.exec(m[0])![1]!;
    const history = /<vuln:RevisionHistory>([\s\S]*?)<\/vuln:RevisionHistory>/.exec(m[0])?.[1] ?? '';
    const dates = [...history.matchAll(/<cvrf:Date>([^<]+)</g)].map((d) => d[1]!).sort();
    return [cve, dates[0]?.slice(0, 10)];
  }),
);

describe('MSRC: a patch is released when the CVEs it fixes were, not when the monthly document was', () => {
  const { batch } = parseCvrf(xml);
  const remediations = batch.advisories[0]!.remediations;

  it('dates an update between Patch Tuesdays by its own CVEs (Edge, 16 January)', () => {
    const edge = remediations.filter((r) => (r.cves ?? []).includes('CVE-2026-0907'));
    expect(edge.length).toBeGreaterThan(0);
    for (const r of edge) expect(r.releasedAt).toBe('2026-01-16');
  });

  it('every update carries the earliest release of the CVEs it fixes', () => {
    const dates = new Set<string>();
    for (const r of remediations) {
      const expected = (r.cves ?? [])
        .map((c) => releasedOn.get(c))
        .filter((d): d is string => d !== undefined)
        .sort()[0];
      expect(r.releasedAt, r.vendorRef).toBe(expected);
      dates.add(r.releasedAt!);
    }
    // The document is of 13 January; its updates were not all released that day.
    expect(dates.size).toBeGreaterThan(1);
  });
});
