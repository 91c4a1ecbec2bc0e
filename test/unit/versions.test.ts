import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isOlder, parseNevra, splitVersion, versionKey } from '../../prioritization/versions.ts';

/**
 * rpm's rpmvercmp (rpmio/rpmvercmp.c) transcribed literally, as the reference the keys are held to:
 * it compares two strings directly, segment by segment, where the keys are computed apart.
 */
function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const alnum = (c: string | undefined) => c !== undefined && /[A-Za-z0-9]/.test(c);
  while (i < a.length || j < b.length) {
    while (i < a.length && !alnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !alnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    const numeric = /[0-9]/.test(a[i]!);
    const take = (s: string, k: number) => {
      let e = k;
      while (e < s.length && (numeric ? /[0-9]/.test(s[e]!) : /[A-Za-z]/.test(s[e]!))) e++;
      return e;
    };
    const ie = take(a, i);
    const je = take(b, j);
    if (je === j) return numeric ? 1 : -1;
    let sa = a.slice(i, ie);
    let sb = b.slice(j, je);
    if (numeric) {
      sa = sa.replace(/^0+/, '');
      sb = sb.replace(/^0+/, '');
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    if (sa !== sb) return sa < sb ? -1 : 1;
    i = ie;
    j = je;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

const sign = (n: number) => (n > 0 ? 1 : n < 0 ? -1 : 0);
const keyOrder = (a: string, b: string) => {
  const [ka, kb] = [versionKey(a), versionKey(b)];
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};
/** epoch, then version, then release, each by rpmvercmp: what rpm's rpmVersionCompare does. */
const rpmOrder = (a: string, b: string) => {
  const [va, vb] = [splitVersion(a), splitVersion(b)];
  return (
    sign(rpmvercmp(va.epoch, vb.epoch)) ||
    sign(rpmvercmp(va.version, vb.version)) ||
    sign(rpmvercmp(va.release, vb.release))
  );
};

describe('version keys order versions as rpm does', () => {
  it('agrees with rpm on the cases of rpm’s own test suite', () => {
    const cases: [string, string, number][] = [
      ['1.0', '1.0', 0],
      ['1.0', '2.0', -1],
      ['2.0.1', '2.0', 1],
      ['2.0.1a', '2.0.1', 1],
      ['5.5p1', '5.5p2', -1],
      ['5.5p10', '5.5p1', 1],
      ['10xyz', '10.1xyz', -1],
      ['xyz10', 'xyz10.1', -1],
      ['1.0aa', '1.0a', 1],
      ['1.0~rc1', '1.0', -1],
      ['1.0~rc1', '1.0~rc2', -1],
      ['1.0~rc1~git123', '1.0~rc1', -1],
      ['1.0^', '1.0', 1],
      ['1.0^git1', '1.0.1', -1],
      ['1.0^git1', '1.0^git2', -1],
      ['1:0.17-64.el7', '1:0.17-65.el7_6', -1],
      ['1:0.17-65.el7_6', '0.18-1.el7', 1],
      ['10.0.20348.4529', '10.0.20348.4648', -1],
      ['10.0.20348.10000', '10.0.20348.4648', 1],
    ];
    for (const [a, b, expected] of cases) {
      expect(keyOrder(a, b), `${a} vs ${b}`).toBe(expected);
      expect(rpmOrder(a, b), `reference: ${a} vs ${b}`).toBe(expected);
    }
  });

  it('agrees with rpmvercmp on random versions', () => {
    const segment = fc.oneof(
      fc.stringMatching(/^[0-9]{1,4}$/),
      fc.stringMatching(/^[a-z]{1,3}$/),
      fc.constantFrom('.', '_', '+', '~', '^', '.0', '00'),
    );
    const version = fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => s.join(''));
    const evr = fc
      .tuple(fc.option(fc.integer({ min: 0, max: 3 })), version, fc.option(version))
      .map(([e, v, r]) => `${e === null ? '' : `${e}:`}${v.replace(/-/g, '')}${r === null ? '' : `-${r}`}`);
    fc.assert(
      fc.property(evr, evr, (a, b) => keyOrder(a, b) === rpmOrder(a, b)),
      { numRuns: 5000 },
    );
  });
});

describe('package names as Red Hat and Nessus write them', () => {
  it('reads name, epoch, version, release and arch', () => {
    expect(parseNevra('telnet-1:0.17-65.el7_6.x86_64')).toEqual({
      name: 'telnet',
      epoch: '1',
      version: '0.17',
      release: '65.el7_6',
      arch: 'x86_64',
    });
    expect(parseNevra('telnet-server-0.17-64.el7')).toMatchObject({
      name: 'telnet-server',
      version: '0.17',
      release: '64.el7',
      arch: '',
    });
    expect(parseNevra('kernel')).toBeUndefined();
    expect(isOlder('0.17-64.el7', '1:0.17-64.el7')).toBe(true);
  });
});
