import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { feedBatchSchema } from '../../integrations/feeds/batch.ts';
import { cvss3BaseScore, parseCvss3, roundup, severityOf } from '../../prioritization/cvss31.ts';
import { parseCvss4, scoreCvss4 } from '../../prioritization/cvss40.ts';

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
      const page = JSON.parse(readFileSync(path.join(fixtures, 'cve/nvd-api-2.0', f), 'utf8')) as {
        vulnerabilities: {
          cve: { metrics?: { cvssMetricV31?: { cvssData: { vectorString: string; baseScore: number } }[] } };
        }[];
      };
      for (const v of page.vulnerabilities)
        for (const m of v.cve.metrics?.cvssMetricV31 ?? []) pairs.push([m.cvssData.vectorString, m.cvssData.baseScore]);
    }
    for (const f of readdirSync(path.join(fixtures, 'cve/cve-json5'))) {
      const text = readFileSync(path.join(fixtures, 'cve/cve-json5', f), 'utf8');
      for (const m of text.matchAll(/"cvssV3_1":\s*\{[^}]*?"baseScore":\s*([\d.]+)[^}]*?"vectorString":\s*"([^"]+)"/g))
        pairs.push([m[2] ?? '', Number(m[1])]);
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
    expect([0, 0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0, 10].map(severityOf)).toEqual([
      'none',
      'low',
      'low',
      'medium',
      'medium',
      'high',
      'high',
      'critical',
      'critical',
    ]);
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
    expect(() => parseCvss4('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N')).toThrow(
      /missing base metric\(s\) SA/,
    );
    expect(() => parseCvss4('CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toThrow(
      /AV is out of order/,
    );
    expect(() => parseCvss4('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:R/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toThrow(
      /UI:R is not one of N, P, A/,
    );
    expect(() => parseCvss4('CVSS:3.1/AV:N')).toThrow(/must start with CVSS:4\.0/);
  });
});

describe('CVSS v4.0 score (FIRST specification section 8)', () => {
  const known: [string, number][] = [
    // RedHatProductSecurity/cvss (the Python port of the FIRST reference calculator), tests/vectors_threat4.
    ['CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A', 7.3],
    ['CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:P', 5.9],
    ['CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U', 4.1],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/E:A', 0.0],
    // Same repository, tests/vectors_security4 (security requirements CR/IR/AR).
    ['CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:H/IR:M/AR:L', 7.1],
    ['CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:M/IR:M/AR:M', 5.5],
    ['CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:L/IR:L/AR:L', 5.4],
    // Same repository, tests/vectors_simple4 (base metrics only).
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:H/SA:L', 9.2],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', 8.6],
    ['CVSS:4.0/AV:N/AC:H/AT:P/PR:N/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:L', 9.1],
    ['CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:H/SA:N', 4.0],
    ['CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N', 2.1],
    ['CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:L/VA:L/SC:L/SI:N/SA:N', 1.8],
    // An exact x.x5 tie that float arithmetic lands just below (5.6499999999999995): half up gives 5.7.
    ['CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:H/VA:L/SC:N/SI:N/SA:L', 5.7],
    // Same repository, tests/test_cvss4.py (environmental AR, modified MSI, no impact).
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N', 8.7],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N/AR:L', 7.9],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/MSI:H', 7.7],
    ['CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:P/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N', 0.0],
    // A MacroVector's own highest-severity vector scores its entry in the FIRST lookup table
    // (cvss_lookup.js): 000100 is 10, 000110 is 9.3 and, with MSI/MSA:S (Safety), 000010 is 9.8.
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H', 10.0],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:P', 9.3],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:P/MSI:S/MSA:S', 9.8],
    // MacroVector 000200 (9.3) has no lower EQ4 class, so SC/SI/SA:N take nothing off.
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', 9.3],
    // Section 8: no impact on either system (here through the modified metrics) scores 0.
    ['CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A/MVC:N/MVI:N/MVA:N', 0.0],
  ];
  for (const [vector, score] of known) {
    it(`${vector} → ${score.toFixed(1)}`, () => {
      expect(scoreCvss4(vector)).toBe(score);
    });
  }

  it('matches the score the CNA states for every v4.0 vector in the CVE JSON 5 fixtures', () => {
    type Metrics = { metrics?: { cvssV4_0?: { vectorString: string; baseScore: number } }[] };
    const pairs: [string, number][] = [];
    for (const f of readdirSync(path.join(fixtures, 'cve/cve-json5'))) {
      const record = JSON.parse(readFileSync(path.join(fixtures, 'cve/cve-json5', f), 'utf8')) as {
        containers: { cna: Metrics; adp?: Metrics[] };
      };
      for (const c of [record.containers.cna, ...(record.containers.adp ?? [])]) {
        for (const m of c.metrics ?? []) if (m.cvssV4_0) pairs.push([m.cvssV4_0.vectorString, m.cvssV4_0.baseScore]);
      }
    }
    // CVE-2024-5910 (Palo Alto Networks Expedition), published as 9.3.
    expect(pairs).toContainEqual([
      'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/AU:Y/R:U/V:D/RE:M/U:Red',
      9.3,
    ]);
    for (const [vector, score] of pairs) expect(scoreCvss4(vector), vector).toBe(score);
  });

  it('scores a modified metric as the base metric it replaces, and X as not stated', () => {
    const base = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N';
    expect(scoreCvss4(`${base}/MSI:H`)).toBe(scoreCvss4(base.replace('SI:N', 'SI:H')));
    const full = 'CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:P/VC:H/VI:L/VA:N/SC:L/SI:N/SA:N';
    expect(scoreCvss4(`${full}/E:X/CR:X/IR:X/AR:X/MAV:X/MSI:X`)).toBe(scoreCvss4(full));
    expect(scoreCvss4(`${full}/E:X/CR:X/IR:X/AR:X`)).toBe(scoreCvss4(`${full}/E:A/CR:H/IR:H/AR:H`));
  });

  it('scores a parsed vector the same as its string, and refuses a malformed one', () => {
    const vector = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N/AR:L';
    expect(scoreCvss4(parseCvss4(vector))).toBe(scoreCvss4(vector));
    expect(() => scoreCvss4('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N')).toThrow(InputError);
  });
});

describe('CVSS v4.0 scores in feed batches', () => {
  const vector = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N/AR:L';
  const batch = (cve: object) =>
    parseInput(feedBatchSchema, { cves: [{ id: 'CVE-2024-0001', ...cve }], advisories: [] }, 'nvd file').cves[0];

  it('computes the score of a vector stated without one', () => {
    expect(batch({ cvssV4Vector: vector })).toMatchObject({ cvssV4Vector: vector, cvssV4Score: 7.9 });
  });

  it("keeps the publisher's score where it states one, even a different one", () => {
    expect(batch({ cvssV4Vector: vector, cvssV4Score: 8.0 })?.cvssV4Score).toBe(8.0);
    expect(batch({})?.cvssV4Score).toBeUndefined();
  });

  it('names the field of a vector it cannot score', () => {
    const bad = 'CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';
    expect(() => batch({ cvssV4Vector: bad })).toThrow(InputError);
    expect(() => batch({ cvssV4Vector: bad })).toThrow(
      /cves\.0\.cvssV4Vector: invalid CVSS v4\.0 vector .*AV is out of order/,
    );
    expect(() => batch({ cvssV4Vector: 'CVSS:3.1/AV:N' })).toThrow(/cves\.0\.cvssV4Vector: a CVSS:4\.0 vector/);
  });
});
