import { allHandlersFinished, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { recordActivities } from '../activity-options.ts';
import type { ApprovalWorkflowInput } from '../approval.ts';
import { refuse } from '../approval-gate.ts';
import type { ApprovalDecision, ApprovalResult, ApprovalState } from '../approval-types.ts';
import { approvalStatusQuery, approveChangeUpdate, rejectChangeUpdate } from '../messages.ts';
import { durationToMs } from '../time.ts';

/** The gate as first shipped (fixed approver list, no escalation): kept so that executions started before the model replay unchanged. */
export async function firstApprovalGate(input: ApprovalWorkflowInput): Promise<ApprovalResult> {
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
    if (by === input.requester)
      refuse('NotAllowedError', `separation of duties: ${by} requested this change and cannot approve or reject it`);
    if (!input.approvers.includes(by))
      refuse(
        'NotAllowedError',
        `${by} is not an approver for this change (approvers: ${input.approvers.join(', ') || 'none configured'})`,
      );
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
  setHandler(
    approveChangeUpdate,
    (args) =>
      decide({
        by: args.by,
        decision: 'approve',
        reason: args.comment,
        channel: args.channel,
        at: new Date().toISOString(),
      }),
    {
      validator: (args) => validateDecider(args.by),
    },
  );
  setHandler(
    rejectChangeUpdate,
    (args) =>
      decide({
        by: args.by,
        decision: 'reject',
        reason: args.reason,
        channel: args.channel,
        at: new Date().toISOString(),
      }),
    {
      validator: (args) => {
        validateDecider(args.by);
        if (!args.reason?.trim()) refuse('InputError', 'a rejection needs a reason');
      },
    },
  );

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
