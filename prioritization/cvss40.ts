import { InputError } from '../integrations/core/errors.ts';

/**
 * CVSS v4.0 vectors, parsed and validated per the FIRST v4.0 specification. The v4.0 score comes
 * from a 270-entry MacroVector table plus interpolation; we use the score the source publishes with
 * the vector rather than carry a second copy of that table.
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
  return { metrics: seen, exploitMaturity: e === 'A' ? 'attacked' : e === 'P' ? 'poc' : e === 'U' ? 'unreported' : 'not-defined' };
}
