import type { PrioritizedFinding } from './query.ts';

/**
 * The one-line reason a person reads next to a score, e.g.
 * "KEV (ransomware) · EPSS 0.94 (p99) · CVSS 9.8 AV:N · internet-facing tier-1 → Act, due in 72h".
 */
export function explainFinding(f: Omit<PrioritizedFinding, 'explanation'>, now: Date): string {
  const c = f.components;
  const parts: string[] = [];
  if (c.kev) parts.push(c.ransomware ? 'KEV (ransomware)' : 'KEV');
  else if (c.exploitEvidence === 'active') parts.push('exploited in the wild');
  else if (c.exploitEvidence === 'poc') parts.push('public exploit');
  if (c.epss !== null)
    parts.push(
      `EPSS ${c.epss.toFixed(2)}${c.epssPercentile !== null ? ` (p${Math.floor(c.epssPercentile * 100)})` : ''}`,
    );
  const av = c.vector ? /\/AV:([NALP])/.exec(c.vector)?.[1] : undefined;
  parts.push(
    c.cvssFromScanner
      ? `scanner severity ≈ CVSS ${c.cvss.toFixed(1)}`
      : `CVSS ${c.cvss.toFixed(1)}${av ? ` AV:${av}` : ''}`,
  );
  parts.push(`${c.exposure === 'internet' ? 'internet-facing' : c.exposure} tier-${c.tier}`);
  const forensic = f.sla.forensicTriage ? ' + forensic triage' : '';
  return `${parts.join(' · ')} → ${f.decision}, ${dueText(f.sla.dueAt, now)}${forensic}`;
}

function dueText(dueAt: string | null, now: Date): string {
  if (dueAt === null) return 'no deadline';
  const ms = Date.parse(dueAt) - now.getTime();
  const hours = Math.abs(ms) / 3_600_000;
  const span = hours < 96 ? `${Math.round(hours)}h` : `${Math.round(hours / 24)}d`;
  return ms >= 0 ? `due in ${span}` : `overdue by ${span}`;
}
