/**
 * Plain data that crosses the workflow boundary. No zod here: workflow code is bundled for the
 * deterministic sandbox, so the schemas live at the edges (app/, server/) and are checked
 * against these types with `satisfies`.
 */
import type { ApprovalPolicy } from './approval-types.ts';
import type { CyclePhase, CycleStatus } from './cycle-states.ts';

export type { CyclePhase, CycleStatus };

/** Durations as strings Temporal understands (`30s`, `72h`). */
export type DurationText = string;

export type {
  ApprovalDecision,
  ApprovalInput,
  ApprovalPolicy,
  ApprovalResult,
  ApprovalState,
} from './approval-types.ts';

/** How many failed hosts are too many: an absolute count, or a share of the hosts concerned. */
export type FailureLimit = { count: number } | { percent: number };

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** A recurring weekly window: on these days, from `start` (local `HH:MM` or `HH:MM:SS`) for `duration`. */
export interface WeeklyWindow {
  days: Weekday[];
  start: string;
  duration: DurationText;
}

export interface MaintenanceWindows {
  /** IANA zone the windows and blackout dates are written in (`Europe/Berlin`). */
  timezone: string;
  weekly: WeeklyWindow[];
  /** No batch may start unless it is expected to finish this long before its window ends. */
  cutoff: DurationText;
  /** Local dates (`YYYY-MM-DD`) on which no window opens. */
  blackoutDates: string[];
}

export interface RingPolicy {
  name: string;
  /** Asset criticality tiers (4 = least critical … 1 = most) that fall into this ring. */
  criticality: number[];
  /** Hosts deployed at once; the ring runs as consecutive batches of this size. */
  maxConcurrency: number;
  /** Failed hosts that halt the rollout at this ring; unset means the policy's maxFailedPercent. */
  errorThreshold?: FailureLimit | undefined;
}

export type RebootPolicy = 'never' | 'if-required' | 'always';

export interface DeploymentPolicy {
  /** A ring whose failed share exceeds this halts the rollout (percent of the ring's hosts), unless the ring sets its own threshold. */
  maxFailedPercent: number;
  /** Least critical first; an asset whose criticality no ring lists goes to the last ring. */
  rings: RingPolicy[];
  /**
   * Percentages are judged against the hosts attempted once this many were tried (or the whole
   * ring, if smaller); a batch this large whose own share is over the limit stops at once.
   * Absent in cycles started before it existed.
   */
  minSample?: number | undefined;
  /** Failed hosts across all rings that halt the rollout; unset means no global budget. */
  failureBudget?: FailureLimit | undefined;
  /** Wait after a ring before the next one starts… */
  soak: DurationText;
  /** …then verify the ring's hosts are still at the patch's target state (only after a soak). */
  healthCheck: boolean;
  /** Unset: deploy at any time. */
  windows?: MaintenanceWindows | undefined;
  /** What one batch is expected to take; decides whether it fits before the window's cutoff. */
  batchDuration: DurationText;
  /** Back up each host before patching it (the deployer's BackupProvider role); a host whose backup fails is skipped. */
  backup: boolean;
  rollback: {
    /** Roll back the hosts patched in a ring that broke its error threshold. */
    failedRing: boolean;
    /** On a global failure (budget spent, failed health check), also roll back the rings that completed. */
    completedRings: boolean;
  };
  reboot: RebootPolicy;
  /** Checks the staging group must pass, after a soak, before the CAB is asked; unset means the deployment's own result decides. */
  stagingChecks?: StagingChecks | undefined;
}

export interface HttpProbe {
  url: string;
  expectStatus?: number[] | undefined;
  contains?: string | undefined;
}

export type FunctionalCheck =
  { name: string; http: HttpProbe; timeout: DurationText } | { name: string; command: string[]; timeout: DurationText };

export interface PerformanceCheck {
  name: string;
  http: { url: string };
  samples: number;
  maxSlowdownPercent: number;
  /** Absent in cycles started before it existed (then 1 ms). */
  toleranceMs?: number | undefined;
  timeout: DurationText;
}

export interface StagingChecks {
  soak: DurationText;
  functional: FunctionalCheck[];
  performance: PerformanceCheck[];
}

/** One check on one staging host, as approvers read it. */
export interface StagingCheckResult {
  name: string;
  kind: 'functional' | 'performance';
  hostname: string;
  passed: boolean;
  /** What was seen: `HTTP 200 in 12 ms`, `exit 0`, `median 48 ms vs 40 ms before (+20%)`. */
  detail: string;
}

export interface StagingCheckReport {
  passed: boolean;
  results: StagingCheckResult[];
}

/** Median response times per performance check and host, measured before the patch. */
export type PerformanceBaseline = Record<string, Record<string, number>>;

export interface CyclePolicy {
  approval: ApprovalPolicy;
  deployment: DeploymentPolicy;
}

export interface ActivityTimeouts {
  activityStartToClose: DurationText;
  deploymentStartToClose: DurationText;
  deploymentHeartbeat: DurationText;
  /** Tries per batch before it counts as failed for good; absent in cycles started before it existed. */
  deploymentAttempts?: number | undefined;
}

export interface PatchCycleInput {
  cycleId: string;
  requester: string;
  policy: CyclePolicy;
  timeouts: ActivityTimeouts;
}

export interface RingPlan {
  ring: string;
  order: number;
  targets: number;
}

export interface CycleScope {
  stagingTargets: number;
  rings: RingPlan[];
}

export interface RingOutcome {
  ring: string;
  phase: 'testing' | 'deployment';
  total: number;
  patched: number;
  alreadyCompliant: number;
  failed: number;
  unreachable: number;
  /** Hosts left alone, e.g. because their pre-patch backup failed. */
  skipped?: number | undefined;
  rolledBack?: number | undefined;
}

export interface VerificationOutcome {
  total: number;
  compliant: number;
  nonCompliant: number;
  // Since verification by re-scan; absent in the results of earlier cycles.
  /** By a re-scan, by the deployer's word ("deployer-reported"), or both (hosts the scan did not cover). */
  method?: 'scan' | 'deployer' | 'scan+deployer';
  /** Findings the re-scan no longer reports (closed). */
  remediated?: number;
  /** Targets whose findings the re-scan still reports; they stay open and are offered to the next cycle. */
  stillVulnerable?: number;
  newlyFound?: number;
  deployerReported?: number;
  scan?: { reference: string; startedAt: string } | undefined;
  stillVulnerableHosts?: string[];
}

export interface CycleProgress {
  cycleId: string;
  phase: CyclePhase;
  status: CycleStatus;
  rings: RingOutcome[];
}
