/**
 * The two CISA decision tables we apply, transcribed from CERT/CC's SSVC repository
 * (data/csv/cisa/cisa_coordinator_2_0_3.csv and cisa_bod_26_04_1_0_0.csv).
 */

export type Exploitation = 'none' | 'poc' | 'active';
export type MissionImpact = 'low' | 'medium' | 'high';
export type Decision = 'Track' | 'Track*' | 'Attend' | 'Act';

export const exploitationLevels: readonly Exploitation[] = ['none', 'poc', 'active'];
export const missionLevels: readonly MissionImpact[] = ['low', 'medium', 'high'];
export const decisions: readonly Decision[] = ['Track', 'Track*', 'Attend', 'Act'];

/**
 * CISA SSVC 2.0.3, in the CSV's row order: exploitation (none, poc, active) × automatable (no, yes)
 * × technical impact (partial, total) × mission and well-being (low, medium, high).
 */
export const cisaDecisionTable: readonly Decision[] = [
  'Track',
  'Track',
  'Track',
  'Track',
  'Track',
  'Track*',
  'Track',
  'Track',
  'Attend',
  'Track',
  'Track',
  'Attend',
  'Track',
  'Track',
  'Track*',
  'Track',
  'Track*',
  'Attend',
  'Track',
  'Track',
  'Attend',
  'Track',
  'Track*',
  'Attend',
  'Track',
  'Track',
  'Attend',
  'Track',
  'Attend',
  'Act',
  'Attend',
  'Attend',
  'Act',
  'Attend',
  'Act',
  'Act',
];

export interface SsvcInputs {
  exploitation: Exploitation;
  automatable: boolean;
  totalImpact: boolean;
  missionImpact: MissionImpact;
}

export function cisaDecisionIndex(i: SsvcInputs): number {
  return (
    exploitationLevels.indexOf(i.exploitation) * 12 +
    (i.automatable ? 6 : 0) +
    (i.totalImpact ? 3 : 0) +
    missionLevels.indexOf(i.missionImpact)
  );
}

export function cisaDecision(i: SsvcInputs): Decision {
  return cisaDecisionTable[cisaDecisionIndex(i)] ?? 'Track';
}

export type BodTimeline = 'upgrade' | 'standard' | 'expedited' | 'urgent' | 'urgent-forensic';

/**
 * CISA BOD 26-04 remediation timelines by in-KEV × asset exposed × automatable × total impact
 * (index = kev·8 + exposed·4 + automatable·2 + total): fix on system upgrade, 60 days, 14 days,
 * 3 days, or 3 days with a forensic investigation.
 */
export const bodTimelineTable: readonly BodTimeline[] = (() => {
  const rows: [kev: number, exposed: number, automatable: number, total: number, t: BodTimeline][] = [
    [0, 0, 0, 0, 'upgrade'],
    [1, 0, 0, 0, 'expedited'],
    [0, 1, 0, 0, 'standard'],
    [0, 0, 1, 0, 'standard'],
    [0, 0, 0, 1, 'upgrade'],
    [1, 1, 0, 0, 'expedited'],
    [1, 0, 1, 0, 'expedited'],
    [0, 1, 1, 0, 'expedited'],
    [1, 0, 0, 1, 'expedited'],
    [0, 1, 0, 1, 'expedited'],
    [0, 0, 1, 1, 'standard'],
    [1, 1, 1, 0, 'urgent'],
    [1, 1, 0, 1, 'urgent-forensic'],
    [1, 0, 1, 1, 'urgent-forensic'],
    [0, 1, 1, 1, 'urgent'],
    [1, 1, 1, 1, 'urgent-forensic'],
  ];
  const table: BodTimeline[] = new Array<BodTimeline>(16).fill('upgrade');
  for (const [kev, exposed, automatable, total, t] of rows) table[kev * 8 + exposed * 4 + automatable * 2 + total] = t;
  return table;
})();
