import type { DeployTarget } from './deployer.ts';

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
