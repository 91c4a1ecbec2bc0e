import { isDeepStrictEqual } from 'node:util';
import { durationMs } from '../kernel/duration.ts';
import type { ErrorDetail } from '../kernel/errors.ts';
import type { PolicyNotes } from '../workflows/approval-types.ts';
import type { CyclePolicy, FailureLimit, RingPolicy } from '../workflows/types.ts';

/** One field a cycle request set differently from the configured policy. */
export interface PolicyChange {
  path: string[];
  from: unknown;
  to: unknown;
  /** tightens: safer than configured; loosens: less safe (an admin's policy change); other: neither, e.g. reboot. */
  effect: 'tightens' | 'loosens' | 'other';
  /** Why a loosening is one, as a reviewer reads it. */
  why?: string;
}

type Effect = PolicyChange['effect'];
const higherIsSafer = (from: number, to: number): Effect => (to > from ? 'tightens' : 'loosens');
const lowerIsSafer = (from: number, to: number): Effect => (to < from ? 'tightens' : 'loosens');
const onIsSafer = (to: boolean): Effect => (to ? 'tightens' : 'loosens');

/** A limit that halts a rollout: a lower one halts sooner; a limit where there was none tightens. */
function limitEffect(from: FailureLimit | undefined, to: FailureLimit | undefined): Effect {
  if (!from) return 'tightens';
  if (!to) return 'loosens';
  if ('count' in from && 'count' in to) return lowerIsSafer(from.count, to.count);
  if ('percent' in from && 'percent' in to) return lowerIsSafer(from.percent, to.percent);
  // A count and a percentage cannot be compared without knowing the ring's size.
  return 'loosens';
}

function ringChanges(from: RingPolicy[], to: RingPolicy[]): PolicyChange[] {
  const sameLayout =
    from.length === to.length &&
    from.every((r, i) => r.name === to[i]!.name && isDeepStrictEqual(r.criticality, to[i]!.criticality));
  if (!sameLayout)
    return [
      {
        path: ['deployment', 'rings'],
        from: from.map((r) => r.name),
        to: to.map((r) => r.name),
        effect: 'loosens',
        why: 'a different ring layout decides which hosts go first, which is a policy change',
      },
    ];
  return from.flatMap((r, i) => {
    const t = to[i]!;
    const changes: PolicyChange[] = [];
    if (t.maxConcurrency !== r.maxConcurrency)
      changes.push({
        path: ['deployment', 'rings', String(i), 'maxConcurrency'],
        from: r.maxConcurrency,
        to: t.maxConcurrency,
        effect: lowerIsSafer(r.maxConcurrency, t.maxConcurrency),
      });
    if (!isDeepStrictEqual(t.errorThreshold, r.errorThreshold))
      changes.push({
        path: ['deployment', 'rings', String(i), 'errorThreshold'],
        from: r.errorThreshold ?? null,
        to: t.errorThreshold ?? null,
        effect: limitEffect(r.errorThreshold, t.errorThreshold),
      });
    return changes;
  });
}

/**
 * How an effective cycle policy differs from the configured one, field by field, and whether each
 * difference makes the change safer. The CAB sees every difference; only an admin may loosen.
 */
export function policyChanges(configured: CyclePolicy, effective: CyclePolicy): PolicyChange[] {
  const changes: PolicyChange[] = [];
  const compare = (path: string[], from: unknown, to: unknown, effect: () => Effect, why?: string) => {
    if (!isDeepStrictEqual(from, to))
      changes.push({ path, from: from ?? null, to: to ?? null, effect: effect(), ...(why ? { why } : {}) });
  };
  const a = configured.approval;
  const b = effective.approval;
  compare(['approval', 'quorum'], a.quorum, b.quorum, () => higherIsSafer(a.quorum, b.quorum));
  // More nudges keep the CAB's attention; fewer let a change wait unseen.
  compare(['approval', 'maxReminders'], a.maxReminders, b.maxReminders, () =>
    higherIsSafer(a.maxReminders ?? 0, b.maxReminders ?? 0),
  );
  for (const field of ['timeout', 'remindEvery', 'escalateAfter'] as const) {
    const [from, to] = [a[field], b[field]];
    // Escalation where there was none tightens; dropping it loosens.
    compare(['approval', field], from, to, () =>
      from === undefined ? 'tightens' : to === undefined ? 'loosens' : lowerIsSafer(durationMs(from), durationMs(to)),
    );
  }
  for (const field of ['approverGroups', 'escalationGroups'] as const)
    compare(
      ['approval', field],
      a[field],
      b[field],
      () => 'loosens',
      'choosing who may approve a change is a policy change',
    );

  const d = configured.deployment;
  const e = effective.deployment;
  compare(['deployment', 'maxFailedPercent'], d.maxFailedPercent, e.maxFailedPercent, () =>
    lowerIsSafer(d.maxFailedPercent, e.maxFailedPercent),
  );
  // A larger sample waits longer before a percentage may stop the rollout.
  compare(['deployment', 'minSample'], d.minSample, e.minSample, () =>
    lowerIsSafer(d.minSample ?? 10, e.minSample ?? 10),
  );
  changes.push(...ringChanges(d.rings, e.rings));
  compare(['deployment', 'failureBudget'], d.failureBudget, e.failureBudget, () =>
    limitEffect(d.failureBudget, e.failureBudget),
  );
  compare(['deployment', 'soak'], d.soak, e.soak, () => higherIsSafer(durationMs(d.soak), durationMs(e.soak)));
  compare(['deployment', 'healthCheck'], d.healthCheck, e.healthCheck, () => onIsSafer(e.healthCheck));
  compare(
    ['deployment', 'windows'],
    d.windows,
    e.windows,
    () => (d.windows ? 'loosens' : 'tightens'),
    'replacing the configured maintenance windows is a policy change',
  );
  compare(
    ['deployment', 'stagingChecks'],
    d.stagingChecks,
    e.stagingChecks,
    () => (d.stagingChecks ? 'loosens' : 'tightens'),
    'replacing the configured staging checks is a policy change',
  );
  compare(['deployment', 'batchDuration'], d.batchDuration, e.batchDuration, () =>
    higherIsSafer(durationMs(d.batchDuration), durationMs(e.batchDuration)),
  );
  compare(['deployment', 'backup'], d.backup, e.backup, () => onIsSafer(e.backup));
  for (const field of ['failedRing', 'completedRings'] as const)
    compare(['deployment', 'rollback', field], d.rollback[field], e.rollback[field], () =>
      onIsSafer(e.rollback[field]),
    );
  compare(['deployment', 'reboot'], d.reboot, e.reboot, () => 'other');
  return changes;
}

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** `approval.quorum 1 → 2`. */
export function describeChange(c: PolicyChange): string {
  return `${c.path.join('.')} ${show(c.from)} → ${show(c.to)}`;
}

const limitText = (l: FailureLimit) => ('count' in l ? `${l.count} host(s)` : `${l.percent}%`);

/** The policy as approvers read it on the card, in the ITSM record and in `cycle status`. */
export function policyNotes(policy: CyclePolicy, changes: PolicyChange[]): PolicyNotes {
  const { approval: a, deployment: d } = policy;
  const rollback = [d.rollback.failedRing ? 'the failed ring' : '', d.rollback.completedRings ? 'completed rings' : '']
    .filter(Boolean)
    .join(' and ');
  return {
    summary: [
      `quorum ${a.quorum}, fails closed after ${a.timeout}`,
      `halts a ring above ${d.maxFailedPercent}% failed${d.failureBudget ? `, or at ${limitText(d.failureBudget)} failed overall` : ''}`,
      `backup ${d.backup ? 'on' : 'OFF'}`,
      `rolls back ${rollback || 'nothing'}`,
      `soak ${d.soak}${d.healthCheck ? ' with health check' : ''}`,
    ].join('; '),
    changes: changes.map((c) => `${describeChange(c)} (${c.effect === 'other' ? 'changed' : c.effect})`),
  };
}

/**
 * A cycle request may only make the configured policy safer. A loosening needs an admin (it is a
 * policy change, audited as such); anyone else is refused with each loosened field named.
 */
export function loosenedFieldsRefusal(
  changes: PolicyChange[],
): { message: string; details: ErrorDetail[] } | undefined {
  const loosened = changes.filter((c) => c.effect === 'loosens');
  if (!loosened.length) return undefined;
  return {
    message: `a cycle request may only tighten the configured policy; ${loosened.map(describeChange).join(', ')} loosens it, which only an admin may do`,
    details: loosened.map((c) => ({
      path: ['policy', ...c.path],
      message: `loosens the configured ${show(c.from)} to ${show(c.to)}${c.why ? `: ${c.why}` : ''}`,
    })),
  };
}
