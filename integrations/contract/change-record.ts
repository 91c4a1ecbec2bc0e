/**
 * Where a change stands in an ITSM tool's change process, in the order records move through it.
 * Vendors name these differently (ServiceNow states, Jira workflow statuses); each connector maps
 * them to its own, and skips the ones its process has no step for.
 */
export const changeStages = [
  'new',
  'assess',
  'authorize',
  'scheduled',
  'implement',
  'review',
  'closed',
  'canceled',
] as const;
export type ChangeStage = (typeof changeStages)[number];

/** How a closed change ended, as ITSM close codes say it. */
export type ChangeClosure = 'successful' | 'successful_with_issues' | 'unsuccessful';

/** Where a change record lives, as its connector addresses it (ServiceNow sys_id and number, Jira issue key). */
export type ChangeRecordRef = Readonly<Record<string, string>>;

/** A Patchflow change as an ITSM change record shows it; rebuilt from the database on every refresh. */
export interface ChangeRecordContent {
  cycleId: string;
  /** One line: the record's short description or summary. */
  title: string;
  /** Plain text: status, scope, risk, per-ring progress, decisions and details. */
  description: string;
  /** Takes the emergency path (a known-exploited CVE on an internet-facing tier-1 host). */
  emergency: boolean;
  justification: string;
  implementationPlan: string;
  /** The rollback plan the CAB approved. */
  backoutPlan: string;
  risk: 'high' | 'moderate' | 'low';
  /** The maintenance window (ISO 8601 instants), when the change has one. */
  window: { start: string; end: string } | null;
  stage: ChangeStage;
  /** What the CAB decided, once it has. */
  decision: 'approved' | 'rejected' | null;
  /** Set when the stage is `closed`: the close code and the closing note. */
  closure: { code: ChangeClosure; notes: string } | null;
}

/** One piece of evidence for the record (a test result, a decision, a ring's result, the verification), posted once as an internal note. */
export interface ChangeEvidence {
  /** Identifies the evidence within its change, so that it is posted once however often the record is refreshed. */
  key: string;
  title: string;
  lines: string[];
}

/** Mirrors Patchflow's change into the change process of an ITSM tool; called from activities in the worker. */
export interface ChangeRecord {
  /** Creates the record in its first stage (`new`) and returns its address. */
  open(change: ChangeRecordContent): Promise<ChangeRecordRef>;
  /** Refreshes the record's fields and moves it, step by step through the vendor's process, to the change's stage. */
  update(ref: ChangeRecordRef, change: ChangeRecordContent): Promise<void>;
  /** Adds an internal note (a work note, an internal comment) that people without Patchflow access can read. */
  addEvidence(ref: ChangeRecordRef, evidence: ChangeEvidence): Promise<void>;
}
