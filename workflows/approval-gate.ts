import { ApplicationFailure, condition } from '@temporalio/workflow';
import type { ErrorKindName } from '../kernel/error-kinds.ts';
import type { ApproveChangeArgs, RejectChangeArgs, WithdrawChangeArgs } from './messages.ts';
import { durationToMs } from './time.ts';
import type {
  ApprovalDecision,
  ApprovalPolicy,
  ApprovalResult,
  ApprovalState,
  ApproverPools,
  ChangeRequest,
} from './approval-types.ts';

/** Refuses an Update in its validator: the failure type is the error kind the edges map to a status. */
export const refuse = (type: ErrorKindName, message: string): never => {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
};
const unique = (xs: string[]) => [...new Set(xs)];

/** The change request as the gate decides on it, fixed once it is gathered. */
interface OpenChange {
  change: ChangeRequest;
  pools: ApproverPools;
  emergency: boolean;
  quorum: number;
  escalateAt: number;
}

/**
 * The CAB gate's state and rules, without Temporal's handlers or activities: who may decide now,
 * which decisions are refused and why, and what the decisions add up to. The workflow wires it to
 * Updates and the Query and records what it decides.
 */
export class ApprovalGate {
  readonly decisions: ApprovalDecision[] = [];
  outcome: ApprovalState['outcome'] = 'pending';
  remindersSent = 0;
  escalated = false;
  readonly deadline: number;
  private withdrawal: ApprovalResult['withdrawal'];
  /** Unset until the change request is gathered; Updates may arrive before that. */
  private open: OpenChange | undefined;
  /**
   * Who held approver rights when the latest decision came in. The pools are read once, when the
   * change is opened; someone whose role or group is taken away later is refused, and an approval
   * they gave before stops counting toward the quorum. Unset for decisions sent without it.
   */
  private eligible: string[] | undefined;

  constructor(
    private readonly ask: { cycleId: string; requester: string; policy: ApprovalPolicy },
    private readonly started: number,
  ) {
    this.deadline = started + durationToMs(ask.policy.timeout);
  }

  get isOpen(): boolean {
    return this.open !== undefined;
  }

  get emergency(): boolean {
    return this.open?.emergency ?? false;
  }

  /** Never when there is no escalation (or the change is an emergency). */
  get escalateAt(): number {
    return this.open?.escalateAt ?? Number.POSITIVE_INFINITY;
  }

  openChange(change: ChangeRequest, pools: ApproverPools): void {
    const { policy } = this.ask;
    // Without anyone in the emergency groups an emergency change takes the standard path rather than fail closed.
    const emergency = change.emergency !== null && pools.emergency.length > 0;
    this.open = {
      change,
      pools,
      emergency,
      quorum: emergency ? (policy.emergency?.quorum ?? 1) : policy.quorum,
      escalateAt:
        !emergency && policy.escalateAfter
          ? this.started + durationToMs(policy.escalateAfter)
          : Number.POSITIVE_INFINITY,
    };
  }

  authors(): string[] {
    return this.open?.change.authors ?? [this.ask.requester];
  }

  pool(): string[] {
    if (!this.open) return [];
    const { pools, emergency } = this.open;
    const members = emergency
      ? pools.emergency
      : this.escalated
        ? [...pools.approvers, ...pools.escalation]
        : pools.approvers;
    return unique(members).filter((p) => !this.authors().includes(p));
  }

  pending(): string[] {
    return this.pool().filter((p) => !this.decisions.some((d) => d.by === p));
  }

  /** The latest of the window's start and every approver's not-before. */
  notBefore(): string | undefined {
    const times = [this.open?.change.window?.start, ...this.decisions.map((d) => d.notBefore)]
      .filter((t): t is string => !!t)
      .map((t) => Date.parse(t));
    return times.length ? new Date(Math.max(...times)).toISOString() : undefined;
  }

  state(): ApprovalState {
    return {
      cycleId: this.ask.cycleId,
      requester: this.ask.requester,
      approvers: this.pool(),
      quorum: this.open?.quorum ?? this.ask.policy.quorum,
      decisions: [...this.decisions],
      outcome: this.outcome,
      remindersSent: this.remindersSent,
      authors: this.authors(),
      mode: this.open?.emergency ? 'emergency' : 'standard',
      escalated: this.escalated,
      deadline: new Date(this.deadline).toISOString(),
      notBefore: this.outcome === 'approved' ? this.notBefore() : undefined,
    };
  }

  /**
   * Handlers are registered before the change request is gathered, so that no Update finds the
   * gate without them. Updates accepted before the validator refused early ones (older histories)
   * are validated here as soon as the request is open.
   */
  async validatedWhenOpen(validate: () => void): Promise<void> {
    if (this.open) return;
    await condition(() => this.open !== undefined);
    validate();
  }

  /**
   * Refuses approvals that may not count, and any that comes before the change request is open:
   * no decision is accepted before its pool exists. (Updates accepted before this rule waited
   * for the opening instead; see validatedWhenOpen.)
   */
  validateApproval(args: ApproveChangeArgs): void {
    const opened = this.requireOpen();
    this.validateDecider(args, opened);
    const { window } = opened.change;
    const windowEnd = window ? Date.parse(window.end) : undefined;
    if (window && windowEnd !== undefined && Date.now() >= windowEnd)
      refuse(
        'ConflictError',
        `the maintenance window ended at ${window.end}; reject this change and request a new window`,
      );
    if (args.notBefore === undefined) return;
    const at = Date.parse(args.notBefore);
    if (Number.isNaN(at)) refuse('InputError', `notBefore "${args.notBefore}" is not an ISO 8601 date-time`);
    if (window && windowEnd !== undefined && at >= windowEnd)
      refuse('InputError', `notBefore ${args.notBefore} is not before the maintenance window ends (${window.end})`);
  }

  /** Refuses rejections that may not count, and any before the change request is open (as validateApproval). */
  validateRejection(args: RejectChangeArgs): void {
    this.validateDecider(args, this.requireOpen());
    if (!args.reason?.trim()) refuse('InputError', 'a rejection needs a reason');
  }

  /** Counts a validated decision: quorum approves (of those still eligible), one rejection rejects. */
  decide(decision: ApprovalDecision, eligible?: string[]): void {
    if (eligible) this.eligible = eligible;
    this.decisions.push(decision);
    if (decision.decision === 'reject') this.outcome = 'rejected';
    else if (this.counted().length >= (this.open?.quorum ?? this.ask.policy.quorum)) this.outcome = 'approved';
  }

  /** The approvals that count toward the quorum now. */
  counted(): ApprovalDecision[] {
    return this.decisions.filter((d) => d.decision === 'approve' && (this.eligible?.includes(d.by) ?? true));
  }

  /** Refuses a withdrawal once the CAB has decided (who may withdraw is the server's rule: requester or coordinator). */
  validateWithdrawal(): void {
    if (this.outcome !== 'pending')
      refuse('ConflictError', `change for cycle ${this.ask.cycleId} is already ${this.outcome}`);
  }

  /** The change is called off before the CAB decided: nothing is deployed. */
  withdraw(args: WithdrawChangeArgs): void {
    this.outcome = 'withdrawn';
    this.withdrawal = { by: args.by, reason: args.reason?.trim() || null };
  }

  /** Widens the pool to the escalation approvers; returns those newly asked (never the change's authors). */
  escalate(): string[] {
    this.escalated = true;
    const { pools, change } = this.open!;
    return pools.escalation.filter((p) => !change.authors.includes(p));
  }

  /** The final deadline passed without quorum: the change fails closed. */
  expire(): void {
    this.outcome = 'expired';
  }

  result(): ApprovalResult {
    const result: ApprovalResult = {
      outcome: this.outcome as ApprovalResult['outcome'],
      decisions: [...this.decisions],
      emergency: this.emergency,
      ...(this.withdrawal ? { withdrawal: this.withdrawal } : {}),
    };
    if (this.outcome !== 'approved') return result;
    const runFrom = this.notBefore();
    const runUntil = this.open?.change.window?.end;
    return { ...result, ...(runFrom ? { notBefore: runFrom } : {}), ...(runUntil ? { notAfter: runUntil } : {}) };
  }

  private requireOpen(): OpenChange {
    if (!this.open)
      refuse(
        'NotReadyError',
        `the change request for cycle ${this.ask.cycleId} is still being gathered; decide in a moment`,
      );
    return this.open!;
  }

  private validateDecider({ by, eligible }: ApproveChangeArgs | RejectChangeArgs, opened: OpenChange): void {
    const { cycleId, requester } = this.ask;
    if (this.outcome !== 'pending') refuse('ConflictError', `change for cycle ${cycleId} is already ${this.outcome}`);
    if (Date.now() >= this.deadline)
      refuse(
        'ConflictError',
        `the approval deadline for cycle ${cycleId} passed at ${new Date(this.deadline).toISOString()}; the change fails closed`,
      );
    if (by === requester)
      refuse('NotAllowedError', `separation of duties: ${by} requested this change and cannot approve or reject it`);
    if (this.authors().includes(by))
      refuse('NotAllowedError', `separation of duties: ${by} authored this change and cannot approve or reject it`);
    if (!this.pool().includes(by)) refuse('NotAllowedError', this.outsidePool(by, opened));
    if (eligible && !eligible.includes(by))
      refuse(
        'NotAllowedError',
        `${by} no longer holds the approver role or group this change was put to (removed since it was opened)`,
      );
    if (this.decisions.some((d) => d.by === by)) refuse('ConflictError', `${by} has already decided on this change`);
  }

  private outsidePool(by: string, { change, pools, emergency, escalateAt }: OpenChange): string {
    if (emergency)
      return `${by} is not an approver for this emergency change (emergency approvers: ${this.pool().join(', ') || 'none configured'}); ${change.emergency}`;
    const later =
      !this.escalated && Number.isFinite(escalateAt) && pools.escalation.includes(by)
        ? `; as an escalation approver ${by} may decide from ${new Date(escalateAt).toISOString()}`
        : '';
    return `${by} is not an approver for this change (approvers: ${this.pool().join(', ') || 'none configured'})${later}`;
  }
}
