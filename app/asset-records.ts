import type { Knex } from 'knex';
import { z } from 'zod';
import {
  assetAttempts,
  assetTargets,
  assetVerifications,
  INSTALL_PHASES,
  lastPatchedAttempt,
  lastVerification,
  latestDeployerReports,
  openFindingsBySeverity,
  slaStanding,
  SUCCESS_OUTCOMES,
  type AttemptRow,
  type DeployerReport,
  type VerificationRecordRow,
} from '../db/repositories/asset-history.ts';
import { getAsset, type Asset } from '../db/repositories/assets.ts';
import { severityNames } from '../integrations/kit/scanners/types.ts';
import type { PrioritizationPolicy } from '../prioritization/policy.ts';

/**
 * An asset's patch records: what each cycle did with each patch on it (the history), and where it
 * stands now (its compliance). Read-only, from what the rollout, verification and scan imports
 * recorded; nothing here asks a deployer or a scanner.
 */

/** A page of an asset's history: `GET /api/assets/:ref/history?limit&offset`. */
export const historyPageSchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();
export type HistoryPage = z.output<typeof historyPageSchema>;

export type VerificationResult = NonNullable<VerificationRecordRow['result']>;

export interface RecordedVerification {
  method: 'scan' | 'deployer';
  result: VerificationResult;
  /** Who says so: a re-scan saw it, or only the deployer reported it (no scanner has looked). */
  label: 're-scan' | 'deployer-reported';
  compliant: boolean;
  at: string;
  message: string;
  evidence: Record<string, unknown>;
}

/** One cycle × patch on the asset. */
export interface HistoryEntry {
  patch: { id: string; title: string };
  cycle: { id: string; name: string; status: string };
  ring: string;
  /**
   * How the target ended: the deciding install attempt's outcome (patched, already_compliant,
   * failed, unreachable, skipped, interrupted, running), rolled_back when a rollback undid it, or
   * the target's own status (pending) when nothing was attempted, as in a rejected cycle.
   */
  outcome: string;
  /** Install attempts (testing or deployment phase); rollbacks are not counted. */
  attempts: number;
  /** When the target was last attempted, or its cycle was created when it never was. */
  at: string;
  /** When the patch was installed (outcome patched); null when nothing was installed. */
  installedAt: string | null;
  verification: RecordedVerification | null;
  /** Where the pre-patch backup lives, when the attempt's evidence names one. */
  backupReference: string | null;
  /** The deployer said the host needs a restart to finish the install. */
  rebootPending: boolean;
  /** The last rollback attempt, when the ring was rolled back. */
  rollback: { succeeded: boolean; at: string; message: string } | null;
  message: string;
  /** The deciding attempt's evidence as its deployer recorded it. */
  evidence: Record<string, unknown>;
}

export interface AssetHistory {
  asset: { id: string; hostname: string };
  /** Entries over all pages. */
  total: number;
  limit: number;
  offset: number;
  /** Newest first. */
  entries: HistoryEntry[];
}

export interface AssetCompliance {
  openFindings: { total: number } & Record<(typeof severityNames)[number], number>;
  /** Open findings past their SLA deadline (the prioritisation policy's, or CISA's KEV date when earlier). */
  overdue: number;
  /** The earliest deadline among the open findings; in the past when some are overdue. */
  earliestDueAt: string | null;
  /** The product the OS maps to, which decides the patches that apply; unmapped gets none with products. */
  product: { status: 'mapped' | 'unmapped'; key: string | null; osName: string | null };
  lastPatched: { at: string; cycleId: string; patchId: string } | null;
  lastVerified: {
    at: string;
    cycleId: string;
    patchId: string;
    method: 'scan' | 'deployer';
    result: VerificationResult;
    label: RecordedVerification['label'];
  } | null;
  rebootPending: boolean;
  /** The earliest deployer report still saying a restart is pending, when one does. */
  rebootPendingSince: { at: string; cycleId: string; patchId: string; message: string } | null;
  lastSeen: string | null;
}

export type AssetDetail = Asset & { compliance: AssetCompliance };

const isInstall = (a: AttemptRow) => (INSTALL_PHASES as readonly string[]).includes(a.phase);
const succeeded = (outcome: string) => (SUCCESS_OUTCOMES as readonly string[]).includes(outcome);
const key = (cycleId: string, patchId: string) => `${cycleId} ${patchId}`;

// WSUS says "installed KB…; restart pending" (its state InstalledPendingReboot); ansible "…; reboot pending: …".
const rebootPendingMessage = /(?<!\bno )\b(?:restart|reboot)[ -]pending\b|pending[ -]?(?:restart|reboot)\b/i;

/** Whether a deployer's report says the host must restart: its evidence's `rebootPending` when stated, else its message. */
function reportsRebootPending(report: { message: string; evidence: Record<string, unknown> }): boolean {
  const stated = report.evidence['rebootPending'];
  return typeof stated === 'boolean' ? stated : rebootPendingMessage.test(report.message);
}

/** The pre-patch backup an attempt's evidence names (`backup: { reference }`, as the BackupProvider reports it). */
function backupReferenceOf(evidence: Record<string, unknown>): string | null {
  const backup = evidence['backup'];
  if (typeof backup !== 'object' || backup === null) return null;
  const reference = (backup as Record<string, unknown>)['reference'];
  return typeof reference === 'string' && reference !== '' ? reference : null;
}

/** A verification as people read it; rows recorded before methods and results were kept say only compliant or not. */
function recordedVerification(v: VerificationRecordRow): RecordedVerification {
  return {
    method: v.method,
    result: v.result ?? (v.compliant ? 'compliant' : 'non_compliant'),
    label: v.method === 'deployer' ? 'deployer-reported' : 're-scan',
    compliant: v.compliant,
    at: v.checkedAt,
    message: v.message,
    evidence: v.evidence,
  };
}

/**
 * One target's record from its attempts (oldest first): the successful install attempt decides
 * it, or else the last one; a successful rollback after it makes it rolled back.
 */
function targetRecord(
  attempts: AttemptRow[],
  targetStatus: string,
): Pick<
  HistoryEntry,
  'outcome' | 'attempts' | 'installedAt' | 'backupReference' | 'rebootPending' | 'rollback' | 'message' | 'evidence'
> {
  const installs = attempts.filter(isInstall);
  const deciding = installs.find((a) => succeeded(a.outcome)) ?? installs.at(-1);
  const lastRollback = attempts.filter((a) => a.phase === 'rollback').at(-1);
  const undoing = lastRollback && succeeded(lastRollback.outcome) ? lastRollback : undefined;
  const rollback = lastRollback
    ? {
        succeeded: undoing !== undefined,
        at: lastRollback.finishedAt ?? lastRollback.startedAt,
        message: lastRollback.message,
      }
    : null;
  if (!deciding)
    return {
      outcome: targetStatus,
      attempts: 0,
      installedAt: null,
      backupReference: null,
      rebootPending: false,
      rollback,
      message: '',
      evidence: {},
    };
  return {
    outcome: undoing ? 'rolled_back' : deciding.outcome,
    attempts: installs.length,
    installedAt: deciding.outcome === 'patched' ? (deciding.finishedAt ?? deciding.startedAt) : null,
    backupReference: backupReferenceOf(deciding.evidence),
    // After a rollback, the deployer's word on the rollback says whether the host waits for a restart.
    rebootPending: reportsRebootPending(undoing ?? deciding),
    rollback,
    message: deciding.message,
    evidence: deciding.evidence,
  };
}

/** The asset's history, newest first, one page of it; an unknown asset is a NotFoundError. */
export async function assetHistory(db: Knex, ref: string, page: HistoryPage): Promise<AssetHistory> {
  const asset = await getAsset(db, ref);
  const { rows, total } = await assetTargets(db, asset.id, page);
  const cycleIds = [...new Set(rows.map((r) => r.cycleId))];
  const [attempts, verifications] = await Promise.all([
    assetAttempts(db, asset.id, cycleIds),
    assetVerifications(db, asset.id, cycleIds),
  ]);
  const attemptsByTarget = new Map<string, AttemptRow[]>();
  for (const a of attempts) {
    const k = key(a.cycleId, a.patchId);
    attemptsByTarget.set(k, [...(attemptsByTarget.get(k) ?? []), a]);
  }
  // Oldest first, so the last one set is the latest.
  const verificationByTarget = new Map(verifications.map((v) => [key(v.cycleId, v.patchId), v]));
  return {
    asset: { id: asset.id, hostname: asset.hostname },
    total,
    limit: page.limit,
    offset: page.offset,
    entries: rows.map((t) => {
      const verification = verificationByTarget.get(key(t.cycleId, t.patchId));
      return {
        patch: { id: t.patchId, title: t.patchTitle },
        cycle: { id: t.cycleId, name: t.cycleName, status: t.cycleStatus },
        ring: t.ring,
        at: t.at,
        verification: verification ? recordedVerification(verification) : null,
        ...targetRecord(attemptsByTarget.get(key(t.cycleId, t.patchId)) ?? [], t.targetStatus),
      };
    }),
  };
}

function lastVerifiedOf(v: VerificationRecordRow): NonNullable<AssetCompliance['lastVerified']> {
  const { at, method, result, label } = recordedVerification(v);
  return { at, cycleId: v.cycleId, patchId: v.patchId, method, result, label };
}

/**
 * Whether the host still waits for a restart: per patch, the deployer's latest word (an install,
 * a rollback or a deployer verification) is what holds, so a later report without a pending
 * restart clears an earlier one. The earliest report still pending says since when.
 */
function pendingReboot(reports: DeployerReport[]): AssetCompliance['rebootPendingSince'] {
  const latest = new Map<string, DeployerReport>();
  for (const r of reports) {
    const seen = latest.get(r.patchId);
    if (!seen || r.at > seen.at) latest.set(r.patchId, r);
  }
  const pending = [...latest.values()].filter(reportsRebootPending).sort((a, b) => a.at.localeCompare(b.at));
  const first = pending[0];
  return first ? { at: first.at, cycleId: first.cycleId, patchId: first.patchId, message: first.message } : null;
}

/** Where the asset stands now: open findings and their deadlines, what it maps to, when it was patched and verified. */
async function assetCompliance(
  db: Knex,
  asset: Asset,
  policy: PrioritizationPolicy,
  now = new Date(),
): Promise<AssetCompliance> {
  const [bySeverity, sla, patched, verified, reports] = await Promise.all([
    openFindingsBySeverity(db, asset.id),
    slaStanding(db, asset.id, policy, now),
    lastPatchedAttempt(db, asset.id),
    lastVerification(db, asset.id),
    latestDeployerReports(db, asset.id),
  ]);
  const counts = Object.fromEntries(
    severityNames.map((name, severity) => [name, bySeverity.get(severity) ?? 0]),
  ) as Record<(typeof severityNames)[number], number>;
  const reboot = pendingReboot(reports);
  return {
    openFindings: { total: [...bySeverity.values()].reduce((n, c) => n + c, 0), ...counts },
    overdue: sla.overdue,
    earliestDueAt: sla.earliestDueAt,
    product: {
      status: asset.product ? 'mapped' : 'unmapped',
      key: asset.product,
      osName: asset.osName ?? null,
    },
    lastPatched: patched
      ? { at: patched.finishedAt ?? patched.startedAt, cycleId: patched.cycleId, patchId: patched.patchId }
      : null,
    lastVerified: verified ? lastVerifiedOf(verified) : null,
    rebootPending: reboot !== null,
    rebootPendingSince: reboot,
    lastSeen: asset.lastSeen,
  };
}

/** An asset with its compliance: `GET /api/assets/:ref`. */
export async function assetDetail(db: Knex, ref: string, policy: PrioritizationPolicy): Promise<AssetDetail> {
  const asset = await getAsset(db, ref);
  return { ...asset, compliance: await assetCompliance(db, asset, policy) };
}
