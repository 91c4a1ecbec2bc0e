import {
  allHandlersFinished,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { recordActivities } from './activity-options.ts';
import { ApprovalGate } from './approval-gate.ts';
import { firstApprovalGate } from './legacy/first-approval-gate.ts';
import {
  approvalStatusQuery,
  approveChangeUpdate,
  rejectChangeUpdate,
  withdrawChangeUpdate,
  type WithdrawChangeArgs,
} from './messages.ts';
import { patches } from './patches.ts';
import { asDuration, durationToMs } from './time.ts';
import type { ApprovalDecision, ApprovalResult, ApprovalState, ChangeNotice } from './approval-types.ts';
import type { ActivityTimeouts, ApprovalInput } from './types.ts';

export type ApprovalWorkflowInput = ApprovalInput & { timeouts: ActivityTimeouts };

/**
 * The CAB gate. Decisions arrive as Updates whose synchronous validators refuse, before anything
 * is recorded, the change's authors (separation of duties), people outside the pool and second
 * votes, so the person sees why at once. Quorum approves; one rejection rejects; reminders and
 * escalation nudge; the final deadline fails closed.
 */
export async function approvalWorkflow(input: ApprovalWorkflowInput): Promise<ApprovalResult> {
  return patched(patches.approvalModel) ? approvalGate(input) : firstApprovalGate(input);
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
 * The person who clicked waits for their decision to be recorded: a local activity records it
 * inside the Update's own workflow task, without a round trip through the task queue. Recording
 * retries until it succeeds. (Gates started before `cardsRefreshedByGate` also refreshed the card
 * here, best effort, so the Update waited on chat and ITSM HTTP.)
 */
function decisionActivities(timeouts: ActivityTimeouts) {
  const startToCloseTimeout = asDuration(timeouts.activityStartToClose);
  return {
    record: proxyLocalActivities<Activities>({
      startToCloseTimeout,
      retry: {
        initialInterval: '200ms',
        maximumInterval: '30s',
        backoffCoefficient: 2,
        nonRetryableErrorTypes: ['InputError', 'NotFoundError'],
      },
    }),
    card: proxyLocalActivities<Activities>({
      startToCloseTimeout,
      retry: { initialInterval: '200ms', maximumInterval: '2s', maximumAttempts: 3 },
    }),
  };
}

async function approvalGate(input: ApprovalWorkflowInput): Promise<ApprovalResult> {
  const acts = recordActivities(input.timeouts);
  const chat = chatActivities(input.timeouts);
  const localDecisions = patched(patches.approvalLocalDecisions);
  const onDecision = localDecisions ? decisionActivities(input.timeouts) : { record: acts, card: chat };
  const oneStepDecisions = localDecisions && patched(patches.approvalOneStepDecisions);
  const cardsByGate = oneStepDecisions && patched(patches.cardsRefreshedByGate);
  /** A decision was recorded since the cards were last refreshed; the gate's loop refreshes them. */
  let cardsOutdated = false;
  const { cycleId, requester, policy } = input;
  const started = workflowInfo().startTime.getTime();
  const gate = new ApprovalGate({ cycleId, requester, policy }, started);
  const { deadline } = gate;
  const remindEvery = durationToMs(policy.remindEvery);
  const maxReminders = policy.maxReminders ?? Number.POSITIVE_INFINITY;

  const publish = async (notice?: ChangeNotice, via: Pick<typeof chat, 'publishChange'> = chat) => {
    // Any refresh reads the change as recorded now, so it shows every decision recorded so far.
    cardsOutdated = false;
    // Best effort by design (see chatActivities); the decision itself is already on record.
    await via.publishChange({ cycleId, state: gate.state(), ...(notice ? { notice } : {}) }).catch(() => undefined);
  };
  /** `validate` runs again here, in the step that records the decision: validators of Updates in one activation all run first. */
  const decide = async (
    decision: ApprovalDecision,
    args: { eligible?: string[] | undefined },
    validate: () => void,
  ): Promise<ApprovalState> => {
    if (patched(patches.oneDecisionPerPerson)) validate();
    gate.decide(decision, args.eligible);
    const { outcome } = gate;
    if (cardsByGate) {
      await onDecision.record.recordApprovalDecision({ cycleId, decision, outcome, state: gate.state() });
      cardsOutdated = true;
    } else if (oneStepDecisions) {
      await onDecision.record.recordAndShowDecision({ cycleId, decision, outcome, state: gate.state() });
    } else {
      await onDecision.record.recordApprovalDecision({ cycleId, decision, outcome });
      await publish(undefined, onDecision.card);
    }
    return gate.state();
  };

  setHandler(approvalStatusQuery, () => gate.state());
  setHandler(
    approveChangeUpdate,
    async (args) => {
      await gate.validatedWhenOpen(() => gate.validateApproval(args));
      const notBeforeAt = args.notBefore ? { notBefore: new Date(Date.parse(args.notBefore)).toISOString() } : {};
      return decide(
        {
          by: args.by,
          decision: 'approve',
          reason: args.comment,
          channel: args.channel,
          at: new Date().toISOString(),
          ...notBeforeAt,
        },
        args,
        () => gate.validateApproval(args),
      );
    },
    { validator: (args) => gate.validateApproval(args) },
  );
  setHandler(
    rejectChangeUpdate,
    async (args) => {
      await gate.validatedWhenOpen(() => gate.validateRejection(args));
      return decide(
        {
          by: args.by,
          decision: 'reject',
          reason: args.reason,
          channel: args.channel,
          at: new Date().toISOString(),
        },
        args,
        () => gate.validateRejection(args),
      );
    },
    { validator: (args) => gate.validateRejection(args) },
  );

  setHandler(
    withdrawChangeUpdate,
    async (args) => {
      gate.validateWithdrawal();
      gate.withdraw(args);
      await publish();
      return gate.state();
    },
    { validator: (_args: WithdrawChangeArgs) => gate.validateWithdrawal() },
  );

  const { change, pools } = await acts.openChangeRequest({ cycleId, policy });
  gate.openChange(change, pools);
  const { escalateAt } = gate;
  await publish();
  let nextReminder = started + remindEvery;
  const refreshOutdatedCards = async () => {
    if (cardsOutdated) await publish();
  };
  while (gate.outcome === 'pending') {
    await refreshOutdatedCards();
    const now = Date.now();
    if (now >= deadline) break;
    if (!gate.escalated && now >= escalateAt) {
      const to = gate.escalate();
      await acts.recordEscalation({ cycleId, to, pending: gate.pending() });
      await publish({
        kind: 'escalation',
        people: [...new Set([...to, ...gate.pending()])],
        deadline: new Date(deadline).toISOString(),
      });
      continue;
    }
    if (now >= nextReminder && gate.remindersSent < maxReminders) {
      gate.remindersSent += 1;
      nextReminder = now + remindEvery;
      await acts.remindApprovers({ cycleId, pending: gate.pending(), reminder: gate.remindersSent });
      await publish({ kind: 'reminder', people: gate.pending(), deadline: new Date(deadline).toISOString() });
      continue;
    }
    const remindAt = gate.remindersSent < maxReminders ? nextReminder : deadline;
    await condition(() => gate.outcome !== 'pending' || cardsOutdated, Math.min(deadline, escalateAt, remindAt) - now);
  }
  // An Update accepted just before the deadline finishes recording before the gate closes.
  await condition(allHandlersFinished);
  if (gate.outcome === 'pending') {
    gate.expire();
    await acts.recordApprovalExpiry({ cycleId, approvers: gate.pool(), decisions: gate.decisions });
    await publish();
  }
  await refreshOutdatedCards();
  if (gate.outcome === 'approved' && gate.emergency)
    await acts.recordEmergencyApproval({
      cycleId,
      reason: change.emergency!,
      approvedBy: gate.decisions.map((d) => d.by),
    });
  return gate.result();
}
