import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalState, CycleProgress } from './types.ts';
import type { CycleControlState } from './cycle-control.ts';

export interface ApproveChangeArgs {
  by: string;
  comment?: string | undefined;
  channel: string;
  /** "Approve now, run in the window": deployment waits until this ISO instant. */
  notBefore?: string | undefined;
  /** Who holds approver rights now, as the server read them when this decision came in (see ApprovalGate). */
  eligible?: string[] | undefined;
}

export interface RejectChangeArgs {
  by: string;
  reason: string;
  channel: string;
  eligible?: string[] | undefined;
}

/** The requester (or a coordinator) calls off a change still awaiting approval. */
export interface WithdrawChangeArgs {
  by: string;
  reason?: string | undefined;
  channel: string;
}

/** Who asks a running cycle to pause, resume or stop, and why. */
export interface CycleControlArgs {
  by: string;
  reason?: string | undefined;
  channel: string;
}

/** A person approves the change; the validator refuses the requester and non-approvers before anything is recorded. */
export const approveChangeUpdate = defineUpdate<ApprovalState, [ApproveChangeArgs]>('approveChange');
export const rejectChangeUpdate = defineUpdate<ApprovalState, [RejectChangeArgs]>('rejectChange');
export const withdrawChangeUpdate = defineUpdate<ApprovalState, [WithdrawChangeArgs]>('withdrawChange');
export const approvalStatusQuery = defineQuery<ApprovalState>('approvalStatus');
export const cycleProgressQuery = defineQuery<CycleProgress>('cycleProgress');

/** Pause, resume and cancel an approved cycle; they take effect between rings. */
export const pauseCycleUpdate = defineUpdate<CycleControlState, [CycleControlArgs]>('pauseCycle');
export const resumeCycleUpdate = defineUpdate<CycleControlState, [CycleControlArgs]>('resumeCycle');
export const cancelCycleUpdate = defineUpdate<CycleControlState, [CycleControlArgs]>('cancelCycle');
/** The cycle forwards its pause/cancel state to the running deployment, which holds between rings. */
export const cycleControlSignal = defineSignal<[CycleControlState]>('cycleControl');
