/**
 * One card model for a change and its cycle, built once from the database and rendered by each
 * chat connector (Block Kit for Slack, an Adaptive Card for Teams). Renderers only lay out what
 * is here; every wording and decision about what to show lives in this file.
 */
import { describeStagingChecks } from '../../../workflows/staging.ts';
import type { ApprovalState, ChangeNotice, ChangeRequest, ApproverPools } from '../../../workflows/approval-types.ts';
import type { CyclePhase, CycleStatus, RingOutcome, VerificationOutcome } from '../../../workflows/types.ts';
import type { CardFact, CardSection, CardTone, ChangeCard, ChatNotice, ChatPerson } from '../../contract/chat.ts';

/** The card's source data: the cycle, its change request and the gate's latest state. */
export interface CardSource {
  cycle: { id: string; name: string; status: CycleStatus; phase: CyclePhase; requester: string; reason: string | null };
  change: ChangeRequest | null;
  pools: ApproverPools | null;
  approval: ApprovalState | null;
  rings: (RingOutcome & { order: number })[];
  /** The re-check of every patched host, once the cycle has finished it. */
  verification: VerificationOutcome | null;
}

export function formatInstant(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const statusText: Record<CycleStatus, string> = {
  running: 'Running',
  awaiting_approval: 'Awaiting CAB approval',
  scheduled: 'Approved, scheduled',
  queued: 'Approved, queued behind another cycle that holds some of its hosts',
  paused: 'Paused',
  completed: 'Completed',
  completed_with_failures: 'Completed with failures',
  rejected: 'Rejected',
  expired: 'Expired: no decision before the deadline (failed closed)',
  halted: 'Halted',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

const toneOf = (status: CycleStatus): CardTone =>
  status === 'completed' || status === 'scheduled'
    ? 'good'
    : status === 'awaiting_approval' || status === 'paused' || status === 'queued'
      ? 'warning'
      : status === 'running'
        ? 'neutral'
        : 'attention';

export function buildChangeCard(
  source: CardSource,
  people: ReadonlyMap<string, ChatPerson>,
  viewer?: string,
): ChangeCard {
  const { cycle, change, approval } = source;
  const name = (id: string) => people.get(id)?.displayName ?? id;
  const approvals = approval?.decisions.filter((d) => d.decision === 'approve').length ?? 0;
  const pending = approval?.outcome === 'pending' && cycle.status === 'awaiting_approval';
  const canDecide =
    !viewer || (approval?.approvers.includes(viewer) === true && !approval.decisions.some((d) => d.by === viewer));

  let status = `${statusText[cycle.status]} · phase ${cycle.phase}`;
  if (pending && approval) {
    status = `Awaiting CAB approval: ${approvals} of ${approval.quorum} approvals${approval.mode === 'emergency' ? ' (emergency path)' : ''}${approval.escalated ? ', escalated' : ''}${approval.deadline ? `; fails closed at ${formatInstant(approval.deadline)}` : ''}`;
  } else if (cycle.status === 'scheduled' && approval?.notBefore) {
    status = `Approved; deployment starts at ${formatInstant(approval.notBefore)}`;
  } else if (cycle.reason) {
    status = `${statusText[cycle.status]}: ${cycle.reason}`;
  }

  const facts: CardFact[] = [{ label: 'Requested by', value: name(cycle.requester) }];
  const details: CardSection[] = [];
  if (change) {
    facts.push(
      {
        label: 'Scope',
        value: `${change.patches.map((p) => p.id).join(', ')} on ${change.assetCount} host(s): ${change.rings.map((r) => `${r.ring} ${r.hosts.length}`).join(', ') || 'no rings'}`,
      },
      { label: 'Risk', value: riskSummary(change) },
      {
        label: 'Staging',
        value: change.staging
          ? `${change.staging.hosts.join(', ')}: ${ringSummary(change.staging)}${change.staging.checks?.length ? `; ${describeStagingChecks(change.staging.checks)}` : ''}`
          : 'no staging group in scope',
      },
      {
        label: 'Window',
        value: change.window
          ? `${formatInstant(change.window.start)} to ${formatInstant(change.window.end)}`
          : 'none: deploys once approved',
      },
      { label: 'Rollback', value: change.rollbackPlan },
    );
    if (change.policy)
      facts.push({
        label: 'Policy',
        value: `${change.policy.summary}${change.policy.changes.length ? `. Differs from the configured policy: ${change.policy.changes.join('; ')}` : ' (as configured)'}`,
      });
    details.push(
      { title: 'Patches', lines: change.patches.map((p) => `${p.id}: ${p.title} (${p.vendorRef})`) },
      { title: 'Rings', lines: change.rings.map((r) => `${r.order}. ${r.ring}: ${r.hosts.join(', ')}`) },
      {
        title: 'Top CVEs',
        lines: change.risk.topCves.length
          ? change.risk.topCves.map(
              (c) =>
                `${c.id}: CVSS ${c.cvss ?? 'n/a'}, EPSS ${c.epss ?? 'n/a'}${c.kev ? `, KEV${c.kevDueDate ? ` due ${c.kevDueDate}` : ''}` : ''}`,
            )
          : ['no CVE data recorded for these patches'],
      },
    );
  }
  if (approval) {
    facts.push({
      label: 'Approvers',
      value: `${approval.approvers.map(name).join(', ') || 'none configured'} (${approval.quorum} needed)`,
    });
    details.push({
      title: 'Approval',
      lines: [
        `mode: ${approval.mode ?? 'standard'}; quorum ${approval.quorum}`,
        `may not decide (separation of duties): ${(approval.authors ?? [approval.requester]).map(name).join(', ')}`,
        ...(approval.deadline ? [`fails closed at ${formatInstant(approval.deadline)}`] : []),
        ...(approval.notBefore ? [`deployment not before ${formatInstant(approval.notBefore)}`] : []),
      ],
    });
  }

  return {
    cycleId: cycle.id,
    title: `${change?.title ?? cycle.name} (${cycle.id})`,
    status,
    tone: change?.emergency && pending ? 'attention' : toneOf(cycle.status),
    emergency: change?.emergency ? emergencyBanner(change.emergency, approval) : null,
    facts,
    decisions: (approval?.decisions ?? []).map(
      (d) =>
        `${name(d.by)} ${d.decision === 'approve' ? 'approved' : 'rejected'} via ${d.channel} at ${formatInstant(d.at)}${d.reason ? `: ${d.reason}` : ''}${d.notBefore ? ` (run not before ${formatInstant(d.notBefore)})` : ''}`,
    ),
    progress: source.rings.map((r) => `${r.ring}: ${ringSummary(r)}`),
    details,
    awaitingDecision: pending,
    decidable: pending && canDecide,
    deciders: pending
      ? approval.approvers
          .filter((id) => !approval.decisions.some((d) => d.by === id))
          .flatMap((id) => people.get(id) ?? [])
      : [],
  };
}

function emergencyBanner(reason: string, approval: ApprovalState | null): string {
  if (approval?.mode === 'standard')
    return `Emergency criteria met (${reason}), but nobody is in the emergency groups: the standard CAB quorum applies.`;
  return `Emergency change: ${reason}. ${approval?.quorum ?? 1} emergency approver(s) suffice; the change is reviewed afterwards.`;
}

export function riskSummary(change: ChangeRequest): string {
  const { risk } = change;
  const top = risk.topCves[0];
  const parts = [`${risk.kevCount} known-exploited (KEV)`];
  if (top) parts.push(`top ${top.id} CVSS ${top.cvss ?? 'n/a'}${top.epss !== null ? ` EPSS ${top.epss}` : ''}`);
  if (risk.nextDeadline) parts.push(`KEV deadline ${risk.nextDeadline}`);
  if (risk.exposedCritical.length) parts.push(`internet-facing tier 1: ${risk.exposedCritical.join(', ')}`);
  return parts.join('; ');
}

function ringSummary(r: RingOutcome): string {
  const done = r.patched + r.alreadyCompliant + r.failed + r.unreachable;
  if (done === 0) return `${r.total} host(s) waiting`;
  const failed = r.failed + r.unreachable;
  return `${done}/${r.total} done: ${r.patched} patched, ${r.alreadyCompliant} already compliant${failed ? `, ${failed} failed` : ''}`;
}

/** The words for a reminder or an escalation; chat connectors put the mentions in front. */
export function buildNotice(
  notice: ChangeNotice,
  cycleId: string,
  people: ReadonlyMap<string, ChatPerson>,
): ChatNotice {
  const text =
    notice.kind === 'reminder'
      ? `reminder: change ${cycleId} is waiting for your decision; it fails closed at ${formatInstant(notice.deadline)}.`
      : `escalation: change ${cycleId} has no quorum yet; you may now decide on it. It fails closed at ${formatInstant(notice.deadline)}.`;
  return {
    cycleId,
    text,
    people: notice.people.map((id) => people.get(id) ?? { id, displayName: id, slackUserId: null, teamsAadId: null }),
  };
}
