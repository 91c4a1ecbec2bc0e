import { InputError } from '../kernel/errors.ts';
import { macroVectorScores, maxComposed, maxSeverity, type Eq3Eq6 } from './cvss40-tables.ts';

/**
 * CVSS v4.0 vectors, parsed and validated per the FIRST v4.0 specification, and their score as
 * section 8 defines it: the vector's MacroVector (equivalence classes EQ1–EQ6) gives a score from a
 * 270-entry table, lowered by the vector's severity distance from the highest-severity vector of that
 * MacroVector. Ported float for float from the FIRST reference calculator (cvss_score.js), because
 * its scores are rounded from float sums and must match to the tenth. A publisher's stated score
 * still wins over ours where both exist (see integrations/feeds/batch.ts).
 */

const metrics: Record<string, { values: readonly string[]; required: boolean }> = {
  AV: { values: ['N', 'A', 'L', 'P'], required: true },
  AC: { values: ['L', 'H'], required: true },
  AT: { values: ['N', 'P'], required: true },
  PR: { values: ['N', 'L', 'H'], required: true },
  UI: { values: ['N', 'P', 'A'], required: true },
  VC: { values: ['H', 'L', 'N'], required: true },
  VI: { values: ['H', 'L', 'N'], required: true },
  VA: { values: ['H', 'L', 'N'], required: true },
  SC: { values: ['H', 'L', 'N'], required: true },
  SI: { values: ['H', 'L', 'N'], required: true },
  SA: { values: ['H', 'L', 'N'], required: true },
  E: { values: ['X', 'A', 'P', 'U'], required: false },
  CR: { values: ['X', 'H', 'M', 'L'], required: false },
  IR: { values: ['X', 'H', 'M', 'L'], required: false },
  AR: { values: ['X', 'H', 'M', 'L'], required: false },
  MAV: { values: ['X', 'N', 'A', 'L', 'P'], required: false },
  MAC: { values: ['X', 'L', 'H'], required: false },
  MAT: { values: ['X', 'N', 'P'], required: false },
  MPR: { values: ['X', 'N', 'L', 'H'], required: false },
  MUI: { values: ['X', 'N', 'P', 'A'], required: false },
  MVC: { values: ['X', 'H', 'L', 'N'], required: false },
  MVI: { values: ['X', 'H', 'L', 'N'], required: false },
  MVA: { values: ['X', 'H', 'L', 'N'], required: false },
  MSC: { values: ['X', 'H', 'L', 'N'], required: false },
  MSI: { values: ['X', 'S', 'H', 'L', 'N'], required: false },
  MSA: { values: ['X', 'S', 'H', 'L', 'N'], required: false },
  S: { values: ['X', 'N', 'P'], required: false },
  AU: { values: ['X', 'N', 'Y'], required: false },
  R: { values: ['X', 'A', 'U', 'I'], required: false },
  V: { values: ['X', 'D', 'C'], required: false },
  RE: { values: ['X', 'L', 'M', 'H'], required: false },
  U: { values: ['X', 'Clear', 'Green', 'Amber', 'Red'], required: false },
};
const order = Object.keys(metrics);

export type ExploitMaturity = 'attacked' | 'poc' | 'unreported' | 'not-defined';

export interface Cvss4Vector {
  metrics: Record<string, string>;
  /** Threat metric E: Attacked, POC, Unreported, or not defined (X / absent). */
  exploitMaturity: ExploitMaturity;
}

function bad(vector: string, message: string): InputError {
  return new InputError(`invalid CVSS v4.0 vector "${vector}": ${message}`, [{ path: ['vector'], message }]);
}

export function parseCvss4(vector: string): Cvss4Vector {
  const m = /^CVSS:4\.0\/(.+)$/.exec(vector.trim());
  if (!m?.[1]) throw bad(vector, 'must start with CVSS:4.0/');
  const seen: Record<string, string> = {};
  let last = -1;
  for (const part of m[1].split('/')) {
    const [key, value, ...rest] = part.split(':');
    if (!key || value === undefined || rest.length) throw bad(vector, `"${part}" is not metric:value`);
    const def = metrics[key];
    if (!def) throw bad(vector, `unknown metric ${key}`);
    if (key in seen) throw bad(vector, `metric ${key} appears twice`);
    if (!def.values.includes(value)) throw bad(vector, `${key}:${value} is not one of ${def.values.join(', ')}`);
    // v4.0 (section 7) fixes the order of metrics in a vector string.
    const at = order.indexOf(key);
    if (at < last) throw bad(vector, `metric ${key} is out of order`);
    last = at;
    seen[key] = value;
  }
  const missing = order.filter((k) => metrics[k]?.required && !(k in seen));
  if (missing.length) throw bad(vector, `missing base metric(s) ${missing.join(', ')}`);
  const e = seen['E'];
  return {
    metrics: seen,
    exploitMaturity: e === 'A' ? 'attacked' : e === 'P' ? 'poc' : e === 'U' ? 'unreported' : 'not-defined',
  };
}

/** The metrics section 8 scores on: base, threat (E) and the security requirements CR/IR/AR. */
type ScoredMetric =
  'AV' | 'AC' | 'AT' | 'PR' | 'UI' | 'VC' | 'VI' | 'VA' | 'SC' | 'SI' | 'SA' | 'E' | 'CR' | 'IR' | 'AR';
type EffectiveValues = Record<ScoredMetric, string>;

/**
 * The value each metric is scored with: a modified metric (MAV…MSA) other than X replaces its base
 * metric, and X, like absence, takes the worst case the specification assumes (E:A, CR/IR/AR:H).
 */
function effectiveValues(metrics: Record<string, string>): EffectiveValues {
  const chosen = (metric: string) => {
    const modified = metrics[`M${metric}`];
    return modified !== undefined && modified !== 'X' ? modified : (metrics[metric] ?? 'X');
  };
  const orWorst = (metric: string, worst: string) => {
    const value = metrics[metric];
    return value === undefined || value === 'X' ? worst : value;
  };
  return {
    AV: chosen('AV'),
    AC: chosen('AC'),
    AT: chosen('AT'),
    PR: chosen('PR'),
    UI: chosen('UI'),
    VC: chosen('VC'),
    VI: chosen('VI'),
    VA: chosen('VA'),
    SC: chosen('SC'),
    SI: chosen('SI'),
    SA: chosen('SA'),
    E: orWorst('E', 'A'),
    CR: orWorst('CR', 'H'),
    IR: orWorst('IR', 'H'),
    AR: orWorst('AR', 'H'),
  };
}

/** The equivalence class of each EQ, 0 the most severe (specification table 24). */
interface MacroVector {
  eq1: 0 | 1 | 2;
  eq2: 0 | 1;
  eq3: 0 | 1 | 2;
  eq4: 0 | 1 | 2;
  eq5: 0 | 1 | 2;
  eq6: 0 | 1;
}

function macroVector(m: EffectiveValues): MacroVector {
  return {
    eq1:
      m.AV === 'N' && m.PR === 'N' && m.UI === 'N'
        ? 0
        : (m.AV === 'N' || m.PR === 'N' || m.UI === 'N') && m.AV !== 'P'
          ? 1
          : 2,
    eq2: m.AC === 'L' && m.AT === 'N' ? 0 : 1,
    eq3: m.VC === 'H' && m.VI === 'H' ? 0 : m.VC === 'H' || m.VI === 'H' || m.VA === 'H' ? 1 : 2,
    // SI/SA:S (Safety) can only come from MSI/MSA.
    eq4: m.SI === 'S' || m.SA === 'S' ? 0 : m.SC === 'H' || m.SI === 'H' || m.SA === 'H' ? 1 : 2,
    eq5: m.E === 'A' ? 0 : m.E === 'P' ? 1 : 2,
    eq6: (m.CR === 'H' && m.VC === 'H') || (m.IR === 'H' && m.VI === 'H') || (m.AR === 'H' && m.VA === 'H') ? 0 : 1,
  };
}

/** The table score of a MacroVector; undefined for the combinations that do not exist (below the lowest class). */
function macroVectorScore(
  eq1: number,
  eq2: number,
  eq3: number,
  eq4: number,
  eq5: number,
  eq6: number,
): number | undefined {
  return macroVectorScores[`${eq1}${eq2}${eq3}${eq4}${eq5}${eq6}`];
}

/**
 * Each value's severity distance from the most severe one, in 0.1 steps (cvss_score.js). These are
 * the reference's floating-point literals: scores are rounded from sums of them.
 */
const levels: Record<Exclude<ScoredMetric, 'E'>, Readonly<Record<string, number>>> = {
  AV: { N: 0.0, A: 0.1, L: 0.2, P: 0.3 },
  PR: { N: 0.0, L: 0.1, H: 0.2 },
  UI: { N: 0.0, P: 0.1, A: 0.2 },
  AC: { L: 0.0, H: 0.1 },
  AT: { N: 0.0, P: 0.1 },
  VC: { H: 0.0, L: 0.1, N: 0.2 },
  VI: { H: 0.0, L: 0.1, N: 0.2 },
  VA: { H: 0.0, L: 0.1, N: 0.2 },
  SC: { H: 0.1, L: 0.2, N: 0.3 },
  SI: { S: 0.0, H: 0.1, L: 0.2, N: 0.3 },
  SA: { S: 0.0, H: 0.1, L: 0.2, N: 0.3 },
  CR: { H: 0.0, M: 0.1, L: 0.2 },
  IR: { H: 0.0, M: 0.1, L: 0.2 },
  AR: { H: 0.0, M: 0.1, L: 0.2 },
};
type DistanceMetric = keyof typeof levels;
const distanceMetrics = Object.keys(levels) as DistanceMetric[];

function level(metric: DistanceMetric, value: string | undefined): number {
  const found = value === undefined ? undefined : levels[metric][value];
  if (found === undefined) throw new Error(`CVSS v4.0 ${metric}:${value ?? '(none)'} has no severity level`);
  return found;
}

/**
 * Per metric, how far the vector sits below the first highest-severity vector of its MacroVector
 * that it exceeds in no metric. When none qualifies, the reference keeps the last one it tried.
 */
function severityDistances(m: EffectiveValues, macro: MacroVector, eq3eq6: Eq3Eq6): Record<DistanceMetric, number> {
  let distances: Record<DistanceMetric, number> | undefined;
  for (const eq1Max of maxComposed.eq1[macro.eq1]) {
    for (const eq2Max of maxComposed.eq2[macro.eq2]) {
      for (const eq3eq6Max of maxComposed.eq3eq6[eq3eq6]) {
        for (const eq4Max of maxComposed.eq4[macro.eq4]) {
          const max = Object.fromEntries(
            [eq1Max, eq2Max, eq3eq6Max, eq4Max]
              .join('/')
              .split('/')
              .map((part) => part.split(':')),
          ) as Record<string, string>;
          distances = Object.fromEntries(distanceMetrics.map((k) => [k, level(k, m[k]) - level(k, max[k])])) as Record<
            DistanceMetric,
            number
          >;
          if (Object.values(distances).every((d) => d >= 0)) return distances;
        }
      }
    }
  }
  if (!distances) throw new Error(`no highest-severity vector for EQ3/EQ6 ${eq3eq6}`);
  return distances;
}

/**
 * The CVSS v4.0 score of a vector (CVSS-B, -BT, -BE or -BTE: whichever metrics it states), per the
 * FIRST specification section 8 and its reference calculator. A string is parsed first, so a
 * malformed vector throws parseCvss4's InputError.
 */
export function scoreCvss4(vector: string | Cvss4Vector): number {
  const { metrics } = typeof vector === 'string' ? parseCvss4(vector) : vector;
  const m = effectiveValues(metrics);
  if ((['VC', 'VI', 'VA', 'SC', 'SI', 'SA'] as const).every((k) => m[k] === 'N')) return 0;

  const macro = macroVector(m);
  const { eq1, eq2, eq3, eq4, eq5, eq6 } = macro;
  const value = macroVectorScore(eq1, eq2, eq3, eq4, eq5, eq6);
  if (value === undefined) throw new Error(`no CVSS v4.0 score for MacroVector ${eq1}${eq2}${eq3}${eq4}${eq5}${eq6}`);
  const eq3eq6: Eq3Eq6 = eq3 === 0 ? (eq6 === 0 ? '00' : '01') : eq3 === 1 ? (eq6 === 0 ? '10' : '11') : '21';

  // The score of the next lower MacroVector along each EQ, undefined at the bottom. EQ3 and EQ6
  // step together: 00 can step to 01 or 10 (the higher counts), 10 to 11, 01 and 11 to the next EQ3.
  const lower = {
    eq1: macroVectorScore(eq1 + 1, eq2, eq3, eq4, eq5, eq6),
    eq2: macroVectorScore(eq1, eq2 + 1, eq3, eq4, eq5, eq6),
    eq3eq6:
      eq3eq6 === '00'
        ? Math.max(macroVectorScore(eq1, eq2, 0, eq4, eq5, 1)!, macroVectorScore(eq1, eq2, 1, eq4, eq5, 0)!)
        : eq3eq6 === '10'
          ? macroVectorScore(eq1, eq2, eq3, eq4, eq5, eq6 + 1)
          : macroVectorScore(eq1, eq2, eq3 + 1, eq4, eq5, eq6),
    eq4: macroVectorScore(eq1, eq2, eq3, eq4 + 1, eq5, eq6),
    eq5: macroVectorScore(eq1, eq2, eq3, eq4, eq5 + 1, eq6),
  };

  // Each EQ with a lower MacroVector contributes the score drop to it, scaled by the vector's
  // distance below the highest-severity vector as a proportion of the class's depth; EQ5's
  // proportion is always 0. The score is the MacroVector's less the mean contribution.
  const d = severityDistances(m, macro, eq3eq6);
  const step = 0.1;
  const contributions: [number | undefined, number][] = [
    [lower.eq1, (d.AV + d.PR + d.UI) / (maxSeverity.eq1[eq1] * step)],
    [lower.eq2, (d.AC + d.AT) / (maxSeverity.eq2[eq2] * step)],
    [lower.eq3eq6, (d.VC + d.VI + d.VA + d.CR + d.IR + d.AR) / (maxSeverity.eq3eq6[eq3eq6] * step)],
    [lower.eq4, (d.SC + d.SI + d.SA) / (maxSeverity.eq4[eq4] * step)],
    [lower.eq5, 0],
  ];
  let sum = 0;
  let count = 0;
  for (const [next, proportion] of contributions) {
    if (next === undefined) continue;
    sum += (value - next) * proportion;
    count += 1;
  }
  const score = Math.min(10, Math.max(0, value - (count === 0 ? 0 : sum / count)));
  // Round half up to one decimal, lifted by an epsilon first: the interpolation can land a float
  // ulp below a tie (8.6 - 7.15 = 1.4499999999999993 is 1.5). The reference calculator upstream and
  // RedHat's cvss library round this way since their October 2024 fix (cvss-v4-calculator#67, cvss#65).
  return Math.round((score + 1e-6) * 10) / 10;
}
