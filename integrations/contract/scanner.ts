import type { DeployTarget } from './deployer.ts';

/** A scanner report as the scanner produced it; the importer streams it, so it is never held whole in memory. */
export interface ScanReport {
  format: 'nessus' | 'openvas';
  body: AsyncIterable<Uint8Array>;
  /** When the scanner started the scan (ISO 8601, as the scanner states it): evidence counts only if it is later than the install. */
  startedAt: string;
  /** The scanner's own name for this run (Nessus scan id and history uuid, GMP report id), kept as evidence. */
  reference: string;
}

export interface ScanRequest {
  /** Set when the scan verifies a cycle; recorded with the findings. */
  cycleId?: string | undefined;
  targets: DeployTarget[];
  signal?: AbortSignal;
  /** Called while a long scan runs (status polls) so that the activity can heartbeat. */
  onProgress?: (note: string) => void;
}

export interface VulnerabilityScanner {
  /** Launches a scan of the targets, waits for it to finish and returns its report. */
  scan(request: ScanRequest): Promise<ScanReport>;
}
