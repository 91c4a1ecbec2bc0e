import { InputError } from '../kernel/errors.ts';

/**
 * CVSS v3.x vectors and the base score, as the FIRST CVSS v3.1 specification defines them
 * (section 7 formulas, Appendix A Roundup). v3.0 vectors parse too; their base score differs from
 * v3.1 only in rounding edge cases, so the feed's stated score stays authoritative for them.
 */

const base = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  PR: { N: 0.85, L: 0.62, H: 0.27 },
  UI: { N: 0.85, R: 0.62 },
  S: { U: 0, C: 1 },
  C: { H: 0.56, L: 0.22, N: 0 },
  I: { H: 0.56, L: 0.22, N: 0 },
  A: { H: 0.56, L: 0.22, N: 0 },
} as const;
type BaseMetric = keyof typeof base;

/** Temporal and environmental metrics are allowed in a vector and validated, but do not change the base score. */
const optional: Record<string, readonly string[]> = {
  E: ['X', 'U', 'P', 'F', 'H'],
  RL: ['X', 'O', 'T', 'W', 'U'],
  RC: ['X', 'U', 'R', 'C'],
  CR: ['X', 'L', 'M', 'H'],
  IR: ['X', 'L', 'M', 'H'],
  AR: ['X', 'L', 'M', 'H'],
  MAV: ['X', 'N', 'A', 'L', 'P'],
  MAC: ['X', 'L', 'H'],
  MPR: ['X', 'N', 'L', 'H'],
  MUI: ['X', 'N', 'R'],
  MS: ['X', 'U', 'C'],
  MC: ['X', 'N', 'L', 'H'],
  MI: ['X', 'N', 'L', 'H'],
  MA: ['X', 'N', 'L', 'H'],
};

export type Cvss3Vector = { version: '3.0' | '3.1' } & { [M in BaseMetric]: keyof (typeof base)[M] } & {
  optional: Record<string, string>;
};

function bad(vector: string, message: string): InputError {
  return new InputError(`invalid CVSS v3 vector "${vector}": ${message}`, [{ path: ['vector'], message }]);
}

export function parseCvss3(vector: string): Cvss3Vector {
  const m = /^CVSS:(3\.[01])\/(.+)$/.exec(vector.trim());
  if (!m?.[1] || !m[2]) throw bad(vector, 'must start with CVSS:3.1/ or CVSS:3.0/');
  const seen = new Map<string, string>();
  for (const part of m[2].split('/')) {
    const [key, value, ...rest] = part.split(':');
    if (!key || value === undefined || rest.length) throw bad(vector, `"${part}" is not metric:value`);
    if (seen.has(key)) throw bad(vector, `metric ${key} appears twice`);
    const allowed = key in base ? Object.keys(base[key as BaseMetric]) : optional[key];
    if (!allowed) throw bad(vector, `unknown metric ${key}`);
    if (!allowed.includes(value)) throw bad(vector, `${key}:${value} is not one of ${allowed.join(', ')}`);
    seen.set(key, value);
  }
  const missing = Object.keys(base).filter((k) => !seen.has(k));
  if (missing.length) throw bad(vector, `missing base metric(s) ${missing.join(', ')}`);
  const get = <M extends BaseMetric>(k: M) => seen.get(k) as keyof (typeof base)[M];
  return {
    version: m[1] as '3.0' | '3.1',
    AV: get('AV'),
    AC: get('AC'),
    PR: get('PR'),
    UI: get('UI'),
    S: get('S'),
    C: get('C'),
    I: get('I'),
    A: get('A'),
    optional: Object.fromEntries([...seen].filter(([k]) => !(k in base))),
  };
}

/** Appendix A: the smallest number with one decimal that is ≥ the input, free of floating-point artefacts. */
export function roundup(input: number): number {
  const intInput = Math.round(input * 100_000);
  return intInput % 10_000 === 0 ? intInput / 100_000 : (Math.floor(intInput / 10_000) + 1) / 10;
}

export function cvss3BaseScore(v: Cvss3Vector): number {
  const changed = v.S === 'C';
  const pr = changed && v.PR !== 'N' ? { L: 0.68, H: 0.5 }[v.PR] : base.PR[v.PR];
  const iss = 1 - (1 - base.C[v.C]) * (1 - base.I[v.I]) * (1 - base.A[v.A]);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  const exploitability = 8.22 * base.AV[v.AV] * base.AC[v.AC] * pr * base.UI[v.UI];
  if (impact <= 0) return 0;
  return roundup(Math.min((changed ? 1.08 : 1) * (impact + exploitability), 10));
}

export type Severity = 'none' | 'low' | 'medium' | 'high' | 'critical';

/** The qualitative rating scale shared by CVSS v3.1 and v4.0. */
export function severityOf(score: number): Severity {
  return score === 0 ? 'none' : score < 4 ? 'low' : score < 7 ? 'medium' : score < 9 ? 'high' : 'critical';
}
