/** Deploying patches to hosts. Every value is plain data so that it can be recorded in Postgres and compared in contract tests. */

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
