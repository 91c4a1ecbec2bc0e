/**
 * The change-approval model as plain data: what the CAB is asked (the change request), who may
 * answer (the policy and the approver pools), and what it answered. Chat-agnostic: Slack, Teams,
 * the CLI and REST all render and decide on these same values.
 */
import type { DurationText, RingOutcome, StagingCheckResult } from './types.ts';

export interface EmergencyPolicy {
  /** Groups whose members may approve an emergency change on their own. */
  groups: string[];
  /** Approvals an emergency change needs (usually one). */
  quorum: number;
}

export interface ApprovalPolicy {
  /** How many distinct approvers must approve (N of the M people in the pool). */
  quorum: number;
  /** Groups whose approvers form the CAB for standard changes; empty means every user with the approver role. */
  approverGroups?: string[] | undefined;
  /** Final deadline: no quorum by then and the change fails closed (`expired`). */
  timeout: DurationText;
  /** How often pending approvers are reminded. */
  remindEvery: DurationText;
  /** How many reminders at most; absent in gates started before the bound existed. */
  maxReminders?: number | undefined;
  /** After this the escalation pool is asked too and may decide; unset means no escalation. */
  escalateAfter?: DurationText | undefined;
  /** Groups asked on escalation; empty means every user with the manager role. */
  escalationGroups?: string[] | undefined;
  /** The emergency path (a KEV on an internet-facing tier-1 asset): a smaller pool and quorum, reviewed afterwards. */
  emergency?: EmergencyPolicy | undefined;
}

export interface MaintenanceWindow {
  /** ISO 8601 instants. */
  start: string;
  end: string;
}

export interface ChangeScopeRing {
  ring: string;
  order: number;
  hosts: string[];
}

export interface RiskCve {
  id: string;
  cvss: number | null;
  epss: number | null;
  kev: boolean;
  /** CISA's remediation deadline when the CVE is in KEV. */
  kevDueDate: string | null;
}

/** The policy a change runs under, as approvers read it, and where it differs from the configured one. */
export interface PolicyNotes {
  summary: string;
  /** `approval.quorum 1 → 2 (tightens)`; empty when the configured policy applies unchanged. */
  changes: string[];
}

/** Everything an approver needs to decide, gathered once when approval is requested. */
export interface ChangeRequest {
  cycleId: string;
  title: string;
  requester: string;
  /** The requester and the change's author: neither may decide on it (separation of duties). */
  authors: string[];
  patches: { id: string; title: string; vendorRef: string }[];
  rings: ChangeScopeRing[];
  assetCount: number;
  targetCount: number;
  risk: {
    kevCount: number;
    topCves: RiskCve[];
    /** Earliest KEV due date in scope. */
    nextDeadline: string | null;
    /** Internet-facing tier-1 hosts in scope: the assets the emergency rule looks at. */
    exposedCritical: string[];
  };
  /** The staging run and, when the policy has staging checks, what each saw. */
  staging: (RingOutcome & { hosts: string[]; checks?: StagingCheckResult[] | undefined }) | null;
  window: MaintenanceWindow | null;
  rollbackPlan: string;
  /** Unset for changes requested before policy notes were recorded. */
  policy?: PolicyNotes | undefined;
  /** Why this change takes the emergency path; null for a standard change. */
  emergency: string | null;
}

/** Who may decide, resolved from groups and roles when approval is requested. */
export interface ApproverPools {
  approvers: string[];
  escalation: string[];
  emergency: string[];
}

export interface ApprovalDecision {
  by: string;
  decision: 'approve' | 'reject';
  reason?: string | undefined;
  channel: string;
  at: string;
  /** "Approve now, run in the window": deployment must not start before this instant. */
  notBefore?: string | undefined;
}

export interface ApprovalInput {
  cycleId: string;
  requester: string;
  approvers: string[];
  policy: ApprovalPolicy;
}

export interface ApprovalResult {
  outcome: 'approved' | 'rejected' | 'expired' | 'withdrawn';
  decisions: ApprovalDecision[];
  /** Who called the change off before the CAB decided, and why. */
  withdrawal?: { by: string; reason: string | null } | undefined;
  /** The latest of the window's start and every approver's not-before; absent means deploy at once. */
  notBefore?: string | undefined;
  /** The end of the approved change window: deployment must be done by then; absent without a window. */
  notAfter?: string | undefined;
  emergency?: boolean | undefined;
}

export interface ApprovalState {
  cycleId: string;
  requester: string;
  /** Who may decide right now (the pool for this change, minus its authors). */
  approvers: string[];
  quorum: number;
  decisions: ApprovalDecision[];
  outcome: ApprovalResult['outcome'] | 'pending';
  remindersSent: number;
  authors?: string[] | undefined;
  mode?: 'standard' | 'emergency' | undefined;
  escalated?: boolean | undefined;
  deadline?: string | undefined;
  notBefore?: string | undefined;
}

/** A nudge posted next to the approval card, naming the people it is for. */
export interface ChangeNotice {
  kind: 'reminder' | 'escalation';
  people: string[];
  /** When the change fails closed if nobody decides. */
  deadline: string;
}
