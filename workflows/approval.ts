import { ApplicationFailure, allHandlersFinished, condition, patched, proxyActivities, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { recordActivities } from './activity-options.ts';
import { approvalStatusQuery, approveChangeUpdate, rejectChangeUpdate, type ApproveChangeArgs, type RejectChangeArgs } from './messages.ts';
import { asDuration, durationToMs } from './time.ts';
import type { ApprovalDecision, ApprovalResult, ApprovalState, ApproverPools, ChangeNotice, ChangeRequest } from './approval-types.ts';
import type { ActivityTimeouts, ApprovalInput } from './types.ts';

/** Marks executions that run the full approval model; older executions replay the first gate below. */
export const APPROVAL_MODEL_PATCH = 'approval-model-v2';
/** Marks executions that record decisions with local activities; earlier ones keep scheduling regular ones. */
const LOCAL_DECISION_PATCH = 'approval-local-decisions';
/** Marks executions that record a decision and refresh the card in one local activity; earlier ones run two. */
const ONE_STEP_DECISION_PATCH = 'approval-one-step-decisions';

type ApprovalWorkflowInput = ApprovalInput & { timeouts: ActivityTimeouts };

const refuse = (type: 'ConflictError' | 'NotAllowedError' | 'InputError', message: string): never => {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
};
const unique = (xs: string[]) => [...new Set(xs)];

/**
 * The CAB gate. Decisions arrive as Updates whose synchronous validators refuse, before anything
 * is recorded, the change's authors (separation of duties), people outside the pool and second
 * votes, so the person sees why at once. Quorum approves; one rejection rejects; reminders and
 * escalation nudge; the final deadline fails closed.
 */
export async function approvalWorkflow(input: ApprovalWorkflowInput): Promise<ApprovalResult> {
  return patched(APPROVAL_MODEL_PATCH) ? approvalGate(input) : firstApprovalGate(input);
}

/**
 * Chat is a convenience next to the CLI and REST: a chat outage must not hold the gate, so
 * posting is retried briefly and then given up (the card is refreshed again on the next event).
 */
function chatActivities(timeouts: ActivityTimeouts) {
  return proxyActivities<Activities>({
    startToCloseTimeout: asDuration(timeouts.activityStartToClose),
    retry: { initialInterval: '500ms', maximumInterval: '5s', maximumAttempts: 3 },
  });
}

/**
 * The person who clicked waits for their decision to be recorded and shown on the card: local
 * activities do both inside the Update's own workflow task, without a round trip through the
 * task queue for each. Recording retries until it succeeds; the card, as above, is best effort.
 */
function decisionActivities(timeouts: ActivityTimeouts) {
  const startToCloseTimeout = asDuration(timeouts.activityStartToClose);
  return {
    record: proxyLocalActivities<Activities>({ startToCloseTimeout, retry: { initialInterval: '200ms', maximumInterval: '30s', backoffCoefficient: 2, nonRetryableErrorTypes: ['InputError', 'NotFoundError'] } }),
    card: proxyLocalActivities<Activities>({ startToCloseTimeout, retry: { initialInterval: '200ms', maximumInterval: '2s', maximumAttempts: 3 } }),
  };
}

interface OpenChange {
  change: ChangeRequest;
  pools: ApproverPools;
  emergency: boolean;
  quorum: number;
  escalateAt: number;
}

async function approvalGate(input: ApprovalWorkflowInput): Promise<ApprovalResult> {
  const acts = recordActivities(input.timeouts);
  const chat = chatActivities(input.timeouts);
  const localDecisions = patched(LOCAL_DECISION_PATCH);
  const onDecision = localDecisions ? decisionActivities(input.timeouts) : { record: acts, card: chat };
  const oneStepDecisions = localDecisions && patched(ONE_STEP_DECISION_PATCH);
  const { cycleId, requester, policy } = input;
  const started = workflowInfo().startTime.getTime();
  const deadline = started + durationToMs(policy.timeout);
  const remindEvery = durationToMs(policy.remindEvery);
  const decisions: ApprovalDecision[] = [];
  // Widened on purpose: Updates change it from handlers, which control-flow narrowing cannot see.
  let outcome = 'pending' as ApprovalState['outcome'];
  let remindersSent = 0;
  let escalated = false;
  // eslint-disable-next-line prefer-const -- assigned once, but read by the Update handlers registered before that
  let open: OpenChange | undefined;

  const authors = () => open?.change.authors ?? [requester];
  const pool = (): string[] => {
    if (!open) return [];
    const { pools } = open;
    const members = open.emergency ? pools.emergency : escalated ? [...pools.approvers, ...pools.escalation] : pools.approvers;
    return unique(members).filter((p) => !authors().includes(p));
  };
  const pending = () => pool().filter((p) => !decisions.some((d) => d.by === p));
  const notBefore = (): string | undefined => {
    const times = [open?.change.window?.start, ...decisions.map((d) => d.notBefore)].filter((t): t is string => !!t).map((t) => Date.parse(t));
    return times.length ? new Date(Math.max(...times)).toISOString() : undefined;
  };
  const state = (): ApprovalState => ({
    cycleId,
    requester,
    approvers: pool(),
    quorum: open?.quorum ?? policy.quorum,
    decisions: [...decisions],
    outcome,
    remindersSent,
    authors: authors(),
    mode: open?.emergency ? 'emergency' : 'standard',
    escalated,
    deadline: new Date(deadline).toISOString(),
    notBefore: outcome === 'approved' ? notBefore() : undefined,
  });
  const publish = async (notice?: ChangeNotice, via: Pick<typeof chat, 'publishChange'> = chat) => {
    // Best effort by design (see chatActivities); the decision itself is already on record.
    await via.publishChange({ cycleId, state: state(), ...(notice ? { notice } : {}) }).catch(() => undefined);
  };

  const outsidePool = (by: string, { change, pools, emergency, escalateAt }: OpenChange): string => {
    if (emergency) return `${by} is not an approver for this emergency change (emergency approvers: ${pool().join(', ') || 'none configured'}); ${change.emergency}`;
    const later = !escalated && Number.isFinite(escalateAt) && pools.escalation.includes(by) ? `; as an escalation approver ${by} may decide from ${new Date(escalateAt).toISOString()}` : '';
    return `${by} is not an approver for this change (approvers: ${pool().join(', ') || 'none configured'})${later}`;
  };
  const validateDecider = (by: string, opened: OpenChange): void => {
    if (outcome !== 'pending') refuse('ConflictError', `change for cycle ${cycleId} is already ${outcome}`);
    if (Date.now() >= deadline) refuse('ConflictError', `the approval deadline for cycle ${cycleId} passed at ${new Date(deadline).toISOString()}; the change fails closed`);
    if (by === requester) refuse('NotAllowedError', `separation of duties: ${by} requested this change and cannot approve or reject it`);
    if (authors().includes(by)) refuse('NotAllowedError', `separation of duties: ${by} authored this change and cannot approve or reject it`);
    if (!pool().includes(by)) refuse('NotAllowedError', outsidePool(by, opened));
    if (decisions.some((d) => d.by === by)) refuse('ConflictError', `${by} has already decided on this change`);
  };
  const validateApproval = (args: ApproveChangeArgs, opened: OpenChange): void => {
    validateDecider(args.by, opened);
    const { window } = opened.change;
    const windowEnd = window ? Date.parse(window.end) : undefined;
    if (window && windowEnd !== undefined && Date.now() >= windowEnd) refuse('ConflictError', `the maintenance window ended at ${window.end}; reject this change and request a new window`);
    if (args.notBefore === undefined) return;
    const at = Date.parse(args.notBefore);
    if (Number.isNaN(at)) refuse('InputError', `notBefore "${args.notBefore}" is not an ISO 8601 date-time`);
    if (window && windowEnd !== undefined && at >= windowEnd) refuse('InputError', `notBefore ${args.notBefore} is not before the maintenance window ends (${window.end})`);
  };
  const validateRejection = (args: RejectChangeArgs, opened: OpenChange): void => {
    validateDecider(args.by, opened);
    if (!args.reason?.trim()) refuse('InputError', 'a rejection needs a reason');
  };
  /**
   * Handlers are registered before the change request is gathered, so that no Update finds the
   * gate without them; one that arrives meanwhile is validated as soon as the request is open.
   */
  const validatedWhenOpen = async (validate: (opened: OpenChange) => void) => {
    if (open) return;
    await condition(() => open !== undefined);
    validate(open!);
  };
  const decide = async (decision: ApprovalDecision): Promise<ApprovalState> => {
    decisions.push(decision);
    if (decision.decision === 'reject') outcome = 'rejected';
    else if (decisions.filter((d) => d.decision === 'approve').length >= (open?.quorum ?? policy.quorum)) outcome = 'approved';
    if (oneStepDecisions) {
      await onDecision.record.recordAndShowDecision({ cycleId, decision, outcome, state: state() });
    } else {
      await onDecision.record.recordApprovalDecision({ cycleId, decision, outcome });
      await publish(undefined, onDecision.card);
    }
    return state();
  };

  setHandler(approvalStatusQuery, state);
  setHandler(
    approveChangeUpdate,
    async (args) => {
      await validatedWhenOpen((o) => validateApproval(args, o));
      const notBeforeAt = args.notBefore ? { notBefore: new Date(Date.parse(args.notBefore)).toISOString() } : {};
      return decide({ by: args.by, decision: 'approve', reason: args.comment, channel: args.channel, at: new Date().toISOString(), ...notBeforeAt });
    },
    { validator: (args) => open && validateApproval(args, open) },
  );
  setHandler(
    rejectChangeUpdate,
    async (args) => {
      await validatedWhenOpen((o) => validateRejection(args, o));
      return decide({ by: args.by, decision: 'reject', reason: args.reason, channel: args.channel, at: new Date().toISOString() });
    },
    { validator: (args) => open && validateRejection(args, open) },
  );

  const { change, pools } = await acts.openChangeRequest({ cycleId, policy });
  // Without anyone in the emergency groups an emergency change takes the standard path rather than fail closed.
  const emergency = change.emergency !== null && pools.emergency.length > 0;
  open = {
    change,
    pools,
    emergency,
    quorum: emergency ? (policy.emergency?.quorum ?? 1) : policy.quorum,
    escalateAt: !emergency && policy.escalateAfter ? started + durationToMs(policy.escalateAfter) : Number.POSITIVE_INFINITY,
  };
  const { escalateAt } = open;
  await publish();
  let nextReminder = started + remindEvery;
  while (outcome === 'pending') {
    const now = Date.now();
    if (now >= deadline) break;
    if (!escalated && now >= escalateAt) {
      escalated = true;
      const to = pools.escalation.filter((p) => !change.authors.includes(p));
      await acts.recordEscalation({ cycleId, to, pending: pending() });
      await publish({ kind: 'escalation', people: unique([...to, ...pending()]), deadline: new Date(deadline).toISOString() });
      continue;
    }
    if (now >= nextReminder) {
      remindersSent += 1;
      nextReminder = now + remindEvery;
      await acts.remindApprovers({ cycleId, pending: pending(), reminder: remindersSent });
      await publish({ kind: 'reminder', people: pending(), deadline: new Date(deadline).toISOString() });
      continue;
    }
    await condition(() => outcome !== 'pending', Math.min(deadline, escalateAt, nextReminder) - now);
  }
  // An Update accepted just before the deadline finishes recording before the gate closes.
  await condition(allHandlersFinished);
  if (outcome === 'pending') {
    outcome = 'expired';
    await acts.recordApprovalExpiry({ cycleId, approvers: pool(), decisions });
    await publish();
  }
  if (outcome === 'approved' && emergency) await acts.recordEmergencyApproval({ cycleId, reason: change.emergency!, approvedBy: decisions.map((d) => d.by) });
  const result: ApprovalResult = { outcome, decisions: [...decisions], emergency };
  const runFrom = outcome === 'approved' ? notBefore() : undefined;
  return runFrom ? { ...result, notBefore: runFrom } : result;
}

/** The gate as first shipped (fixed approver list, no escalation): kept so that executions started before the model replay unchanged. */
async function firstApprovalGate(input: ApprovalWorkflowInput): Promise<ApprovalResult> {
  const acts = recordActivities(input.timeouts);
  const decisions: ApprovalDecision[] = [];
  let outcome: ApprovalState['outcome'] = 'pending';
  let remindersSent = 0;

  const state = (): ApprovalState => ({
    cycleId: input.cycleId,
    requester: input.requester,
    approvers: input.approvers,
    quorum: input.policy.quorum,
    decisions: [...decisions],
    outcome,
    remindersSent,
  });

  const validateDecider = (by: string): void => {
    if (outcome !== 'pending') refuse('ConflictError', `change for cycle ${input.cycleId} is already ${outcome}`);
    if (by === input.requester) refuse('NotAllowedError', `separation of duties: ${by} requested this change and cannot approve or reject it`);
    if (!input.approvers.includes(by)) refuse('NotAllowedError', `${by} is not an approver for this change (approvers: ${input.approvers.join(', ') || 'none configured'})`);
    if (decisions.some((d) => d.by === by)) refuse('ConflictError', `${by} has already decided on this change`);
  };
  const decide = async (decision: ApprovalDecision): Promise<ApprovalState> => {
    decisions.push(decision);
    if (decision.decision === 'reject') outcome = 'rejected';
    else if (decisions.filter((d) => d.decision === 'approve').length >= input.policy.quorum) outcome = 'approved';
    await acts.recordApprovalDecision({ cycleId: input.cycleId, decision, outcome });
    return state();
  };

  setHandler(approvalStatusQuery, state);
  setHandler(approveChangeUpdate, (args) => decide({ by: args.by, decision: 'approve', reason: args.comment, channel: args.channel, at: new Date().toISOString() }), {
    validator: (args) => validateDecider(args.by),
  });
  setHandler(rejectChangeUpdate, (args) => decide({ by: args.by, decision: 'reject', reason: args.reason, channel: args.channel, at: new Date().toISOString() }), {
    validator: (args) => {
      validateDecider(args.by);
      if (!args.reason?.trim()) refuse('InputError', 'a rejection needs a reason');
    },
  });

  const deadline = Date.parse(workflowInfo().startTime.toISOString()) + durationToMs(input.policy.timeout);
  const remindEvery = durationToMs(input.policy.remindEvery);
  while (outcome === 'pending') {
    const left = deadline - Date.now();
    if (left <= 0) break;
    if (await condition(() => outcome !== 'pending', Math.min(left, remindEvery))) break;
    if (deadline - Date.now() > 0) {
      remindersSent += 1;
      const pending = input.approvers.filter((a) => !decisions.some((d) => d.by === a));
      await acts.remindApprovers({ cycleId: input.cycleId, pending, reminder: remindersSent });
    }
  }
  if (outcome === 'pending') {
    outcome = 'expired';
    await acts.recordApprovalExpiry({ cycleId: input.cycleId, approvers: input.approvers, decisions });
  }
  await condition(allHandlersFinished);
  return { outcome, decisions: [...decisions] };
}
