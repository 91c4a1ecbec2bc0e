import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../integrations/core/errors.ts';
import { cvss3BaseScore, parseCvss3, roundup, severityOf } from '../../prioritization/cvss31.ts';
import { parseCvss4 } from '../../prioritization/cvss40.ts';

const fixtures = path.resolve(import.meta.dirname, '../fixtures/feeds');

describe('CVSS v3.1 base score (FIRST specification)', () => {
  // Scores as NVD and the FIRST calculator publish them.
  const known: [string, number][] = [
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N', 6.5],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H', 9.6],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
    ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8],
    ['CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:N/I:L/A:H', 5.3],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:H/A:H', 7.5],
    ['CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H', 7.2],
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N', 6.4],
    ['CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N', 1.6],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0.0],
    // Temporal metrics in the vector (as MSRC and CNAs publish them) leave the base score alone.
    ['CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C', 7.8],
  ];
  for (const [vector, score] of known) {
    it(`${vector} → ${score.toFixed(1)}`, () => {
      expect(cvss3BaseScore(parseCvss3(vector))).toBe(score);
    });
  }

  it('matches the base score NVD and CNAs state for every v3.1 vector in the fixtures', () => {
    const pairs: [string, number][] = [];
    for (const f of ['full-page.json', 'single-entry.json']) {
      const page = JSON.parse(readFileSync(path.join(fixtures, 'cve/nvd-api-2.0', f), 'utf8')) as { vulnerabilities: { cve: { metrics?: { cvssMetricV31?: { cvssData: { vectorString: string; baseScore: number } }[] } } }[] };
      for (const v of page.vulnerabilities) for (const m of v.cve.metrics?.cvssMetricV31 ?? []) pairs.push([m.cvssData.vectorString, m.cvssData.baseScore]);
    }
    for (const f of readdirSync(path.join(fixtures, 'cve/cve-json5'))) {
      const text = readFileSync(path.join(fixtures, 'cve/cve-json5', f), 'utf8');
      for (const m of text.matchAll(/"cvssV3_1":\s*\{[^}]*?"baseScore":\s*([\d.]+)[^}]*?"vectorString":\s*"([^"]+)"/g)) pairs.push([m[2] ?? '', Number(m[1])]);
    }
    expect(pairs.length).toBeGreaterThan(40);
    for (const [vector, score] of pairs) expect(cvss3BaseScore(parseCvss3(vector)), vector).toBe(score);
  });

  it('rounds up per Appendix A without floating-point artefacts', () => {
    expect(roundup(4.0)).toBe(4.0);
    expect(roundup(4.02)).toBe(4.1);
    expect(roundup(4.00001)).toBe(4.1);
    // Within 1e-5 of a tenth counts as that tenth: float noise must not bump 4.0 to 4.1.
    expect(roundup(4.000001)).toBe(4.0);
    expect(roundup(0.1 + 0.2)).toBe(0.3);
  });

  it('names the problem in a malformed vector', () => {
    const cases: [string, RegExp][] = [
      ['AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', /must start with CVSS:3\.1/],
      ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H', /missing base metric\(s\) A/],
      ['CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', /AV:X is not one of N, A, L, P/],
      ['CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', /AV appears twice/],
      ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1', /unknown metric ZZ/],
    ];
    for (const [vector, message] of cases) {
      expect(() => parseCvss3(vector)).toThrow(InputError);
      expect(() => parseCvss3(vector)).toThrow(message);
    }
  });

  it('rates severity on the shared qualitative scale', () => {
    expect([0, 0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0, 10].map(severityOf)).toEqual(['none', 'low', 'low', 'medium', 'medium', 'high', 'high', 'critical', 'critical']);
  });
});

describe('CVSS v4.0 vectors', () => {
  it('parses the fixture vector with its supplemental metrics', () => {
    const v = parseCvss4('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/AU:Y/R:U/V:D/RE:M/U:Red');
    expect(v.metrics).toMatchObject({ AV: 'N', VC: 'H', AU: 'Y', U: 'Red' });
    expect(v.exploitMaturity).toBe('not-defined');
  });

  it('reads exploit maturity E', () => {
    const base = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';
    expect(parseCvss4(`${base}/E:A`).exploitMaturity).toBe('attacked');
    expect(parseCvss4(`${base}/E:P`).exploitMaturity).toBe('poc');
    expect(parseCvss4(`${base}/E:U`).exploitMaturity).toBe('unreported');
  });

  it('refuses missing, unknown, misplaced and invalid metrics', () => {
    expect(() => parseCvss4('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N')).toThrow(/missing base metric\(s\) SA/);
    expect(() => parseCvss4('CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toThrow(/AV is out of order/);
    expect(() => parseCvss4('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:R/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toThrow(/UI:R is not one of N, P, A/);
    expect(() => parseCvss4('CVSS:3.1/AV:N')).toThrow(/must start with CVSS:4\.0/);
  });
});
