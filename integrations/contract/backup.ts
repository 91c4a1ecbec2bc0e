import type { DeployTarget, PatchRef } from './deployer.ts';

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
