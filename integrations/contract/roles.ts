/**
 * The small role interfaces a connector can implement. Workflows never see these: activities
 * look a connector up in the registry and call one role method. Every value crossing here is
 * plain data so that it can be recorded in Postgres and compared in contract tests.
 */
import type { Router } from 'express';
import type { ChatActions } from '../kit/chat/actions.ts';
import type { ChangeCard, ChatNotice } from '../kit/chat/card.ts';

/** A host as a deployer sees it: enough to address it, nothing the connector has to look up. */
export interface DeployTarget {
  assetId: string;
  hostname: string;
  address?: string | undefined;
  platform?: string | undefined;
}

export interface PatchRef {
  patchId: string;
  title: string;
  /** Vendor identifier the deployer understands: a KB number, a package name, an update GUID, a PDQ package. */
  vendorRef: string;
  /** Version the host must be at afterwards, when the patch has one. */
  targetVersion?: string | undefined;
}

/** What happened to one host. `already_compliant` is how idempotency shows: nothing had to change. */
export type HostOutcome = 'patched' | 'already_compliant' | 'failed' | 'unreachable' | 'skipped';

export interface HostResult {
  hostname: string;
  outcome: HostOutcome;
  message: string;
  /** Connector-specific evidence (task results, job ids); stored as JSON, shown in reports. */
  evidence?: Record<string, unknown> | undefined;
}

export interface DeployRequest {
  cycleId: string;
  ring: string;
  patch: PatchRef;
  targets: DeployTarget[];
  /** Check mode: report what would change without changing anything. */
  dryRun?: boolean;
  /** never: leave a pending reboot to the owner; if-required: reboot when the install asks for it; always: reboot after install. */
  reboot?: 'never' | 'if-required' | 'always' | undefined;
  /** Called while a long deployment runs so that the activity can heartbeat. */
  onProgress?: (note: string) => void;
  signal?: AbortSignal;
}

export interface PatchDeployer {
  deploy(request: DeployRequest): Promise<HostResult[]>;
  /** Whether each host is at the patch's target state now, without changing anything. */
  verify(request: DeployRequest): Promise<HostResult[]>;
  rollback(request: DeployRequest): Promise<HostResult[]>;
}

export interface BackupRequest {
  cycleId: string;
  patch: PatchRef;
  targets: DeployTarget[];
  /** As for deployments: a long backup heartbeats, and a cancelled activity stops it. */
  onProgress?: (note: string) => void;
  signal?: AbortSignal;
}

export interface BackupResult {
  hostname: string;
  ok: boolean;
  /** Where the backup lives, so that a rollback or a person can find it. */
  reference: string;
  message: string;
}

export interface BackupProvider {
  backup(request: BackupRequest): Promise<BackupResult[]>;
}

export interface DiscoveredAsset {
  hostname: string;
  fqdn?: string | undefined;
  ips: string[];
  platform?: string | undefined;
  patchGroup?: string | undefined;
  tags: string[];
  /** Connector-specific variables, kept for the deployer that found the host. */
  vars: Record<string, unknown>;
}

export interface InventorySource {
  listAssets(): Promise<DiscoveredAsset[]>;
}

export interface ConnectionCheck {
  ok: boolean;
  message: string;
}

/** A scanner report as the scanner produced it; the importer streams it, so it is never held whole in memory. */
export interface ScanReport {
  format: 'nessus' | 'openvas';
  body: AsyncIterable<Uint8Array>;
}

export interface ScanRequest {
  /** Set when the scan verifies a cycle; recorded with the findings. */
  cycleId?: string | undefined;
  targets: DeployTarget[];
  signal?: AbortSignal;
}

export interface VulnerabilityScanner {
  /** Launches a scan of the targets, waits for it to finish and returns its report. */
  scan(request: ScanRequest): Promise<ScanReport>;
}

/** One CVE's facts as a feed knows them; absent fields leave what other feeds stored untouched. */
export interface CveUpsert {
  id: string;
  description?: string | undefined;
  published?: string | undefined;
  lastModified?: string | undefined;
  cvssV3Vector?: string | undefined;
  cvssV3Score?: number | undefined;
  cvssV4Vector?: string | undefined;
  cvssV4Score?: number | undefined;
  epss?: number | undefined;
  epssPercentile?: number | undefined;
  epssDate?: string | undefined;
  kev?: { dateAdded: string; dueDate?: string | undefined; ransomware: boolean; notes?: string | undefined } | undefined;
}

export interface AdvisoryUpsert {
  id: string;
  source: string;
  vendor?: string | undefined;
  title: string;
  severity?: string | undefined;
  published?: string | undefined;
  url?: string | undefined;
  cves: string[];
  /** Patches (KBs, fixed package versions) the advisory names as remediation. */
  remediations: { vendorRef: string; title: string; product?: string | undefined; url?: string | undefined }[];
  data: Record<string, unknown>;
}

export interface AdvisoryBatch {
  cves: CveUpsert[];
  advisories: AdvisoryUpsert[];
}

/** Conditional-request and paging state kept between syncs (feed_state table). */
export interface FeedSyncState {
  etag?: string | undefined;
  lastModified?: string | undefined;
  cursor?: string | undefined;
}

export interface AdvisoryFeed {
  /** Fetches what changed since `state`; `notModified` when the source says nothing changed. */
  sync(state: FeedSyncState, signal?: AbortSignal): Promise<{ notModified: boolean; state: FeedSyncState; batch: AdvisoryBatch }>;
}

/** Where a posted card lives, as its connector addresses it (Slack channel and ts, Teams conversation and activity id). */
export type ChatMessageRef = Readonly<Record<string, string>>;

/** Posts change cards and notices to the team's approval channel; called from activities in the worker. */
export interface Notifier {
  postCard(card: ChangeCard): Promise<ChatMessageRef>;
  /** Replaces the card in place: who decided, live per-ring progress. */
  updateCard(ref: ChatMessageRef, card: ChangeCard): Promise<void>;
  /** A reminder or escalation, next to the card when it was posted. */
  postNotice(notice: ChatNotice, card: ChatMessageRef | undefined): Promise<void>;
}

/** Receives people's actions in chat and hands them to Patchflow; mounted on the server's HTTP app. */
export interface ApprovalChannel {
  mount(router: Router, actions: ChatActions): Promise<void>;
}

/**
 * Where a change stands in an ITSM tool's change process, in the order records move through it.
 * Vendors name these differently (ServiceNow states, Jira workflow statuses); each connector maps
 * them to its own, and skips the ones its process has no step for.
 */
export const changeStages = ['new', 'assess', 'authorize', 'scheduled', 'implement', 'review', 'closed', 'canceled'] as const;
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
