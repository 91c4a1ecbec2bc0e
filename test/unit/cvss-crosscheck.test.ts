import calculator from 'ae-cvss-calculator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cvss3BaseScore, parseCvss3 } from '../../prioritization/cvss31.ts';
import { scoreCvss4 } from '../../prioritization/cvss40.ts';

/**
 * Our CVSS calculators against an independent implementation, metaeffekt's ae-cvss-calculator
 * (a dev dependency only): every CVSS 3.1 base vector, and a large random sample of 4.0 vectors
 * with threat and environmental metrics. A tenth's difference fails.
 */
const { Cvss3P1, Cvss4P0 } = calculator;

const v31 = {
  AV: ['N', 'A', 'L', 'P'],
  AC: ['L', 'H'],
  PR: ['N', 'L', 'H'],
  UI: ['N', 'R'],
  S: ['U', 'C'],
  C: ['H', 'L', 'N'],
  I: ['H', 'L', 'N'],
  A: ['H', 'L', 'N'],
};

function* allVectors(metrics: Record<string, string[]>, prefix: string): Generator<string> {
  const names = Object.keys(metrics);
  const walk = function* (i: number, parts: string[]): Generator<string> {
    if (i === names.length) {
      yield `${prefix}/${parts.join('/')}`;
      return;
    }
    for (const value of metrics[names[i]!]!) yield* walk(i + 1, [...parts, `${names[i]}:${value}`]);
  };
  yield* walk(0, []);
}

const v40Base = {
  AV: ['N', 'A', 'L', 'P'],
  AC: ['L', 'H'],
  AT: ['N', 'P'],
  PR: ['N', 'L', 'H'],
  UI: ['N', 'P', 'A'],
  VC: ['H', 'L', 'N'],
  VI: ['H', 'L', 'N'],
  VA: ['H', 'L', 'N'],
  SC: ['H', 'L', 'N'],
  SI: ['H', 'L', 'N'],
  SA: ['H', 'L', 'N'],
};
const v40Optional = {
  E: ['X', 'A', 'P', 'U'],
  CR: ['X', 'H', 'M', 'L'],
  IR: ['X', 'H', 'M', 'L'],
  AR: ['X', 'H', 'M', 'L'],
  MAV: ['X', 'N', 'A', 'L', 'P'],
  MAC: ['X', 'L', 'H'],
  MAT: ['X', 'N', 'P'],
  MPR: ['X', 'N', 'L', 'H'],
  MUI: ['X', 'N', 'P', 'A'],
  MVC: ['X', 'H', 'L', 'N'],
  MVI: ['X', 'H', 'L', 'N'],
  MVA: ['X', 'H', 'L', 'N'],
  MSC: ['X', 'H', 'L', 'N'],
  MSI: ['X', 'S', 'H', 'L', 'N'],
  MSA: ['X', 'S', 'H', 'L', 'N'],
};

describe('CVSS calculators agree with an independent implementation', () => {
  it('on every CVSS 3.1 base vector (2,592)', () => {
    const disagreements: string[] = [];
    let n = 0;
    for (const vector of allVectors(v31, 'CVSS:3.1')) {
      n++;
      const ours = cvss3BaseScore(parseCvss3(vector));
      const theirs = new Cvss3P1(vector).calculateScores().base;
      if (ours !== theirs) disagreements.push(`${vector}: ours ${ours}, theirs ${theirs}`);
    }
    expect(n).toBe(2592);
    expect(disagreements).toEqual([]);
  });

  it('on 5,000 random CVSS 4.0 vectors, threat and environmental metrics included', () => {
    const pick = (values: string[]) => fc.constantFrom(...values);
    const vector = fc
      .record({
        base: fc.record(Object.fromEntries(Object.entries(v40Base).map(([k, v]) => [k, pick(v)]))),
        optional: fc.record(Object.fromEntries(Object.entries(v40Optional).map(([k, v]) => [k, pick(v)]))),
      })
      .map(({ base, optional }) =>
        [
          'CVSS:4.0',
          ...Object.entries(base).map(([k, v]) => `${k}:${v}`),
          ...Object.entries(optional)
            .filter(([, v]) => v !== 'X')
            .map(([k, v]) => `${k}:${v}`),
        ].join('/'),
      );
    fc.assert(
      fc.property(vector, (v) => {
        expect(scoreCvss4(v), v).toBe(new Cvss4P0(v).calculateScores().overall);
      }),
      { numRuns: 5000 },
    );
  });
});
