/**
 * A Patchflow change as an ITSM change record shows it, built from the same change view and card
 * the chat cards are built from: the wording of status, facts, decisions and progress is the
 * card's. This file decides which stage of a change process the cycle is at and which evidence
 * exists; connectors only map these to their vendor's fields, states and notes.
 */
import {
  changeStages,
  type ChangeClosure,
  type ChangeEvidence,
  type ChangeRecordContent,
  type ChangeStage,
} from '../../contract/index.ts';
import { formatInstant, riskSummary, type CardSource } from '../chat/card.ts';
import type { ChangeCard } from '../../contract/chat.ts';
import type { ChangeRequest } from '../../../workflows/approval-types.ts';
import type { RingOutcome, VerificationOutcome } from '../../../workflows/types.ts';

export interface ChangeRecordView {
  content: ChangeRecordContent;
  /** Every piece of evidence that exists so far, oldest first; the mirror posts each key once. */
  evidence: ChangeEvidence[];
}

export function buildChangeRecordView(source: CardSource, change: ChangeRequest, card: ChangeCard): ChangeRecordView {
  const closure = closureOf(source);
  const stage = stageOf(source, closure);
  const { approval } = source;
  return {
    content: {
      cycleId: source.cycle.id,
      title: card.title,
      description: describe(card),
      emergency: change.emergency !== null,
      justification: [
        ...(change.emergency ? [`Emergency change: ${change.emergency}.`] : []),
        `Risk: ${riskSummary(change)}.`,
        `Fixes ${change.patches.map((p) => `${p.id} (${p.title})`).join(', ')}.`,
      ].join('\n'),
      implementationPlan: [
        `Patchflow deploys ${change.patches.map((p) => p.vendorRef).join(', ')} to ${change.assetCount} host(s), one ring at a time, least critical first:`,
        ...change.rings.map((r) => `${r.order}. ${r.ring}: ${r.hosts.join(', ')}`),
        change.window
          ? `Within the maintenance window ${formatInstant(change.window.start)} to ${formatInstant(change.window.end)}.`
          : 'Deployment starts once the change is approved.',
        ...(change.policy
          ? [
              `Policy: ${change.policy.summary}.`,
              ...change.policy.changes.map((c) => `Differs from the configured policy: ${c}.`),
            ]
          : []),
      ].join('\n'),
      backoutPlan: change.rollbackPlan,
      risk:
        change.emergency !== null || change.risk.kevCount > 0
          ? 'high'
          : (change.risk.topCves[0]?.cvss ?? 0) >= 7
            ? 'moderate'
            : 'low',
      window: change.window,
      stage,
      decision: approval?.outcome === 'approved' || approval?.outcome === 'rejected' ? approval.outcome : null,
      closure: stage === 'closed' && closure ? { code: closure, notes: closingNotes(source, card) } : null,
    },
    evidence: evidenceOf(source, card, stage),
  };
}

/** The order a change moves through its stages toward closure (`canceled` ends it off that path); a vendor's process may leave some out (ServiceNow emergency changes have no Assess). */
export const stageOrder: readonly ChangeStage[] = changeStages.filter((s) => s !== 'canceled');

/**
 * The stages a record passes through, in order, from `current` to `target` along `path`: change
 * processes refuse jumps (New straight to Implement). Canceling is one step from any stage before
 * Review; a record that is finished, or already at or past the target (moved by a person), stays.
 */
export function stagesToward(
  current: ChangeStage,
  target: ChangeStage,
  path: readonly ChangeStage[] = stageOrder,
): ChangeStage[] {
  if (current === target || current === 'closed' || current === 'canceled') return [];
  // An implemented change is closed, successful or not; it is not canceled.
  if (target === 'canceled') return current === 'review' ? [] : ['canceled'];
  const from = path.indexOf(current);
  const to = path.indexOf(target);
  return to > from ? path.slice(from + 1, to + 1) : [];
}

/** Plain text for an evidence note: its title, then its lines. */
export function evidenceText(evidence: ChangeEvidence): string {
  return [`[Patchflow] ${evidence.title}`, ...evidence.lines].join('\n');
}

const ringFinished = (r: RingOutcome) =>
  r.total > 0 && r.patched + r.alreadyCompliant + r.failed + r.unreachable + (r.skipped ?? 0) >= r.total;

/** How a finished cycle ended; none when no production host was touched, since such a change did not happen. */
function closureOf(source: CardSource): ChangeClosure | null {
  const { status, phase } = source.cycle;
  if (phase !== 'done') return null;
  if (status === 'completed') return 'successful';
  if (status === 'completed_with_failures') return 'successful_with_issues';
  const deployed = source.rings.some(
    (r) => r.phase === 'deployment' && r.patched + r.alreadyCompliant + r.failed + r.unreachable > 0,
  );
  return deployed ? 'unsuccessful' : null;
}

function stageOf(source: CardSource, closure: ChangeClosure | null): ChangeStage {
  const { cycle, approval } = source;
  switch (cycle.phase) {
    case 'scoping':
    case 'testing':
      return 'new';
    case 'approval':
      // The gate decides before the cycle leaves the phase: the card shows the decision at once, so does the record.
      if (approval?.outcome === 'approved' || cycle.status === 'scheduled') return 'scheduled';
      if (approval?.outcome === 'rejected' || approval?.outcome === 'expired') return 'canceled';
      return 'authorize';
    case 'deployment':
      // Queued behind another cycle, nothing has been touched yet.
      return cycle.status === 'queued' ? 'scheduled' : 'implement';
    case 'verification':
    case 'reporting':
    case 'review':
      return 'review';
    case 'done':
      return closure ? 'closed' : 'canceled';
  }
}

function describe(card: ChangeCard): string {
  const section = (title: string, lines: string[]) =>
    lines.length ? ['', `${title}:`, ...lines.map((l) => `- ${l}`)] : [];
  return [
    card.status,
    ...(card.emergency ? [card.emergency] : []),
    '',
    ...card.facts.map((f) => `${f.label}: ${f.value}`),
    ...section('Progress', card.progress),
    ...section('Decisions', card.decisions),
    ...card.details.flatMap((d) => section(d.title, d.lines)),
  ].join('\n');
}

function closingNotes(source: CardSource, card: ChangeCard): string {
  return [card.status, ...card.progress, ...(source.verification ? [verificationLine(source.verification)] : [])].join(
    '\n',
  );
}

function verificationLine(v: VerificationOutcome): string {
  return `${v.compliant} of ${v.total} patched host(s) verified at the target state, ${v.nonCompliant} not`;
}

/** Test results, decisions, ring results and verification, in the order they happened, then the outcome. */
function evidenceOf(source: CardSource, card: ChangeCard, stage: ChangeStage): ChangeEvidence[] {
  const rings = source.rings
    .map((r, i) => ({ ring: r, line: card.progress[i] ?? '' }))
    .filter(({ ring }) => ringFinished(ring));
  const ringEvidence = (phase: RingOutcome['phase'], title: (ring: string) => string) =>
    rings
      .filter(({ ring }) => ring.phase === phase)
      .map(({ ring, line }) => ({ key: `${phase}:${ring.ring}`, title: title(ring.ring), lines: [line] }));
  return [
    ...ringEvidence('testing', (ring) => `Test on the ${ring} group`),
    ...(source.approval?.decisions ?? []).map((d, i) => ({
      key: `decision:${d.by}`,
      title: d.decision === 'approve' ? 'CAB approval' : 'CAB rejection',
      lines: [card.decisions[i] ?? ''],
    })),
    ...ringEvidence('deployment', (ring) => `Deployment to ring ${ring}`),
    ...(source.verification
      ? [{ key: 'verification', title: 'Verification', lines: [verificationLine(source.verification)] }]
      : []),
    ...(stage === 'closed' || stage === 'canceled' ? [{ key: 'outcome', title: 'Outcome', lines: [card.status] }] : []),
  ];
}
