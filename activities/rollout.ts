import { Context } from '@temporalio/activity';
import { appendAudit } from '../db/repositories/audit.ts';
import { UpstreamError } from '../kernel/errors.ts';
import {
  abandonAttempts,
  claimCycleHosts,
  finishAttempts,
  liveEarlierAttempts,
  touchAttempts,
  markInterrupted,
  ringAssetIds,
  ringOutcome,
  ringTargets,
  setTargetStatuses,
  startAttempts,
  succeededKeys,
  STAGING_RING,
  type HostHolder,
  type RingTarget,
} from '../db/repositories/cycles.ts';
import { saveStagingChecks } from '../db/repositories/staging-checks.ts';
import { measureBaseline, runStagingChecks, type StagingHost } from '../app/staging-checks.ts';
import { describeStagingChecks } from '../workflows/staging.ts';
import type { BackupProvider, HostResult, PatchRef } from '../integrations/contract/index.ts';
import { deployerFor } from '../app/deployer-routing.ts';
import type {
  PerformanceBaseline,
  RebootPolicy,
  RingOutcome,
  StagingCheckReport,
  StagingChecks,
} from '../workflows/types.ts';
import type { ActivityDeps } from './index.ts';
import { hostDeployer } from './liveness.ts';
import { byDeployerAndPatch, deployTargets, resultFor } from './targets.ts';

export interface DeployRingInput {
  cycleId: string;
  ring: string;
  phase: 'testing' | 'deployment';
  /** One batch of the ring; unset deploys the whole ring (the staging test). */
  assetIds?: string[] | undefined;
  /** Back up each host first; a host whose backup fails is skipped, not patched. */
  backup?: boolean | undefined;
  reboot?: RebootPolicy | undefined;
}

export interface RingHealth {
  ring: string;
  checked: number;
  unhealthy: number;
  examples: string[];
}

export interface RingRollback {
  ring: string;
  rolledBack: number;
  failed: number;
}

const system = 'patchflow';

/** Where a host's pre-patch backup lives, or why it has none. */
type BackupTaken = { provider: string; reference: string } | { none: string };

/**
 * How long an attempt may go unheard before a retry takes its hosts over: the activity's heartbeat
 * timeout (30 s without one), the silence after which Temporal itself gave up on it. The attempt
 * beats three times within it, so a live worker is never taken for dead.
 */
const attemptLeaseMs = (heartbeatTimeoutMs: number | undefined) => heartbeatTimeoutMs ?? 30_000;

/**
 * The host-touching side of the rollout. Thin and idempotent: what was done is read back from
 * Postgres (key cycle × asset × patch), so a retried batch hands only unfinished hosts to the deployer.
 */
export function createRolloutActivities(deps: ActivityDeps) {
  const { db, registry, logger } = deps;
  const routing = { routing: deps.deployerRouting, deployerId: deps.deployerId };
  /**
   * Who backs a host up: the backup connector its patch group or platform is routed to (`backups`
   * settings, e.g. vSphere snapshots), else its deployer's own backups where it can take them
   * (Ansible can; WSUS, SCCM, PDQ and AWX cannot), else nobody.
   */
  const backupProviderFor = (
    target: RingTarget,
    deployerId: string,
  ): { id: string; provider: BackupProvider } | undefined => {
    const routed = deployerFor(target, deps.backupRouting, '');
    if (routed) return { id: routed, provider: registry.role(routed, 'backup') };
    return registry.get(deployerId).definition.capabilities.backup
      ? { id: deployerId, provider: registry.role(deployerId, 'backup') }
      : undefined;
  };

  /**
   * Backs the group's hosts up, each through its own provider. Those whose backup failed come back
   * as results (not patched); the others with where their backup lives, which their attempt
   * records. A host no provider covers is patched without one, and its record says so.
   */
  async function backUp(cycleId: string, group: { deployerId: string; patch: PatchRef; targets: RingTarget[] }) {
    const ctx = Context.current();
    const failed = new Map<string, HostResult>();
    const references = new Map<string, BackupTaken>();
    const byProvider = new Map<string, { provider: BackupProvider; targets: RingTarget[] }>();
    for (const t of group.targets) {
      const chosen = backupProviderFor(t, group.deployerId);
      if (!chosen) {
        references.set(t.key, {
          none: `no backup provider covers ${t.hostname}: ${group.deployerId} cannot back up, and the backups setting routes no backup connector to it`,
        });
        continue;
      }
      const entry = byProvider.get(chosen.id) ?? { provider: chosen.provider, targets: [] };
      entry.targets.push(t);
      byProvider.set(chosen.id, entry);
    }
    for (const [id, { provider, targets }] of byProvider) {
      const results = await provider.backup({
        cycleId,
        patch: group.patch,
        targets: deployTargets(targets),
        onProgress: (n) => ctx.heartbeat(n),
        signal: ctx.cancellationSignal,
      });
      for (const t of targets) {
        const r = results.find((b) => b.hostname === t.hostname);
        if (r?.ok) references.set(t.key, { provider: id, reference: r.reference });
        else
          failed.set(t.key, {
            hostname: t.hostname,
            outcome: 'skipped',
            message: `not patched: the pre-patch backup failed (${r?.message ?? 'no result'})`,
          });
      }
    }
    return { failed, references };
  }

  return {
    /** Response times of the staging checks' endpoints before the patch goes on. */
    async measureStagingBaseline(input: { cycleId: string; checks: StagingChecks }): Promise<PerformanceBaseline> {
      return measureBaseline(input.checks, await stagingHosts(input.cycleId));
    },

    /** Runs the staging checks after the staging deployment (and its soak) and records what each saw. */
    async runStagingChecks(input: {
      cycleId: string;
      checks: StagingChecks;
      baseline: PerformanceBaseline;
    }): Promise<StagingCheckReport> {
      const report = await runStagingChecks(input.checks, await stagingHosts(input.cycleId), input.baseline);
      await saveStagingChecks(db, input.cycleId, report.results);
      await appendAudit(db, {
        actor: system,
        action: 'staging.checked',
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { passed: report.passed, summary: describeStagingChecks(report.results) },
      });
      return report;
    },

    /** Claims the cycle's host × patch pairs for its rollout; gives the cycle holding some of them instead. */
    async claimHosts(input: { cycleId: string }): Promise<HostHolder | null> {
      return claimCycleHosts(db, input.cycleId);
    },

    async ringAssets(input: { cycleId: string; ring: string }): Promise<string[]> {
      return ringAssetIds(db, input.cycleId, input.ring);
    },

    async deployRing(input: DeployRingInput): Promise<RingOutcome> {
      const ctx = Context.current();
      const targets = await ringTargets(db, input.cycleId, input.ring, input.assetIds);
      const done = await succeededKeys(
        db,
        targets.map((t) => t.key),
      );
      const pending = targets.filter((t) => !done.has(t.key));
      const leaseMs = attemptLeaseMs(ctx.info.heartbeatTimeoutMs);
      const live = await liveEarlierAttempts(
        db,
        pending.map((t) => t.key),
        input.phase,
        ctx.info.attempt,
        leaseMs,
      );
      if (live)
        throw new UpstreamError(
          `attempt ${live.attempt} is still working on ${live.hostnames.slice(0, 5).join(', ')}${live.hostnames.length > 5 ? ` and ${live.hostnames.length - 5} more` : ''} (heard from ${live.silentFor}s ago); this attempt waits until it finishes or falls silent for ${leaseMs / 1000}s`,
        );
      const lost = await markInterrupted(
        db,
        pending.map((t) => t.key),
        input.phase,
        ctx.info.attempt,
      );
      if (done.size)
        logger.info('skipping hosts already patched in an earlier attempt', {
          cycleId: input.cycleId,
          ring: input.ring,
          skipped: done.size,
        });
      let backedUp = 0;
      let backupAsked = false;
      let notBackedUp = 0;
      for (const group of byDeployerAndPatch(pending, routing)) {
        const deployer = hostDeployer(deps, ctx, group.deployerId);
        const attempts = await startAttempts(db, input.cycleId, group.targets, input.phase, ctx.info.attempt);
        // The rows say this attempt is alive for as long as it works on them (see liveEarlierAttempts).
        const beat = setInterval(
          () => void touchAttempts(db, [...attempts.values()]).catch(() => undefined),
          leaseMs / 3,
        );
        /** Records results as they are known, so that a batch failing later keeps what it settled. */
        const record = async (results: Map<string, HostResult>) => {
          const rows = group.targets
            .filter((t) => results.has(t.key))
            .map((t) => ({ target: t, attemptId: attempts.get(t.key)!, result: results.get(t.key)! }));
          const recorded = await finishAttempts(db, rows);
          await setTargetStatuses(
            db,
            input.cycleId,
            rows
              .filter((_, i) => recorded[i] !== 'duplicate')
              .map((r) => ({ assetId: r.target.assetId, patchId: r.target.patchId, status: r.result.outcome })),
          );
        };
        try {
          const request = {
            cycleId: input.cycleId,
            ring: input.ring,
            patch: group.patch,
            reboot: input.reboot,
          };
          // A host whose earlier attempt's result was lost may be patched already: the deployer is asked before any re-deploy.
          const uncertain = group.targets.filter((t) => lost.has(t.key));
          const confirmed = new Map<string, HostResult>();
          if (uncertain.length) {
            const verified = await deployer.verify({ ...request, targets: deployTargets(uncertain) });
            for (const t of uncertain) {
              const r = resultFor(verified, t.hostname);
              if (r.outcome === 'already_compliant')
                confirmed.set(t.key, {
                  hostname: t.hostname,
                  outcome: 'patched',
                  message: `patched by an earlier attempt whose result was lost; ${group.deployerId} confirms it before any re-deploy (${r.message})`,
                  evidence: { reconciled: true, ...(r.evidence ?? {}) },
                });
            }
            await record(confirmed);
          }
          const unsettled = group.targets.filter((t) => !confirmed.has(t.key));
          const backup =
            input.backup && unsettled.length
              ? await backUp(input.cycleId, { ...group, targets: unsettled })
              : {
                  failed: new Map<string, HostResult>(),
                  references: new Map<string, BackupTaken>(),
                };
          backupAsked ||= input.backup === true;
          backedUp += [...backup.references.values()].filter((r) => 'reference' in r).length;
          notBackedUp += [...backup.references.values()].filter((r) => 'none' in r).length;
          const toPatch = unsettled.filter((t) => !backup.failed.has(t.key));
          const results = toPatch.length ? await deployer.deploy({ ...request, targets: deployTargets(toPatch) }) : [];
          await record(
            new Map(
              unsettled.map((t) => {
                const refused = backup.failed.get(t.key);
                if (refused) return [t.key, refused];
                const result = resultFor(results, t.hostname);
                const taken = backup.references.get(t.key);
                // The attempt keeps where the host's backup lives: the record shows it, a person restores from it.
                if (!taken) return [t.key, result];
                const message =
                  'none' in taken ? `${result.message} (no backup was taken: ${taken.none})` : result.message;
                return [t.key, { ...result, message, evidence: { ...result.evidence, backup: taken } }];
              }),
            ),
          );
        } catch (err) {
          await abandonAttempts(db, [...attempts.values()], (err as Error).message);
          throw err;
        } finally {
          clearInterval(beat);
        }
        ctx.heartbeat(`ring ${input.ring}: ${group.patch.patchId} done`);
      }
      const outcome = await ringOutcome(db, input.cycleId, input.ring, input.phase, input.assetIds);
      await appendAudit(db, {
        actor: system,
        action: `ring.${input.phase === 'testing' ? 'tested' : 'deployed'}`,
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: {
          ...outcome,
          attempt: ctx.info.attempt,
          ...(input.assetIds ? { batchHosts: input.assetIds.length } : {}),
          ...(backupAsked ? { backedUp, notBackedUp } : {}),
        },
      });
      return outcome;
    },

    /** After the soak: are the ring's patched hosts still at the patch's target state? */
    async checkRingHealth(input: { cycleId: string; ring: string }): Promise<RingHealth> {
      const ctx = Context.current();
      const targets = await patchedTargets(input.cycleId, input.ring, ['patched', 'already_compliant']);
      const unhealthy: string[] = [];
      for (const group of byDeployerAndPatch(targets, routing)) {
        const results = await hostDeployer(deps, ctx, group.deployerId).verify({
          cycleId: input.cycleId,
          ring: input.ring,
          patch: group.patch,
          targets: deployTargets(group.targets),
        });
        for (const t of group.targets) {
          const r = resultFor(results, t.hostname);
          if (r.outcome !== 'already_compliant') unhealthy.push(`${t.hostname}: ${r.message}`);
        }
      }
      const health = {
        ring: input.ring,
        checked: targets.length,
        unhealthy: unhealthy.length,
        examples: unhealthy.slice(0, 5),
      };
      await appendAudit(db, {
        actor: system,
        action: 'ring.health_checked',
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { ...health },
      });
      return health;
    },

    /** Compensation: puts the ring's patched hosts back as they were. Hosts already rolled back are left alone on a retry. */
    async rollbackRing(input: { cycleId: string; ring: string; reason: string }): Promise<RingRollback> {
      const ctx = Context.current();
      const targets = await patchedTargets(input.cycleId, input.ring, ['patched'], { uncertain: true });
      let rolledBack = 0;
      let failed = 0;
      for (const group of byDeployerAndPatch(targets, routing)) {
        const attempts = await startAttempts(db, input.cycleId, group.targets, 'rollback', ctx.info.attempt);
        const results = await hostDeployer(deps, ctx, group.deployerId).rollback({
          cycleId: input.cycleId,
          ring: input.ring,
          patch: group.patch,
          targets: deployTargets(group.targets),
        });
        const rows = group.targets.map((t) => ({
          target: t,
          attemptId: attempts.get(t.key)!,
          result: resultFor(results, t.hostname),
        }));
        await finishAttempts(db, rows);
        const undone = rows.filter((r) => r.result.outcome === 'patched' || r.result.outcome === 'already_compliant');
        rolledBack += undone.length;
        failed += rows.length - undone.length;
        await setTargetStatuses(
          db,
          input.cycleId,
          undone.map((r) => ({ assetId: r.target.assetId, patchId: r.target.patchId, status: 'rolled_back' })),
        );
      }
      const rollback = { ring: input.ring, rolledBack, failed };
      await appendAudit(db, {
        actor: system,
        action: 'ring.rolled_back',
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { ...rollback, reason: input.reason },
      });
      return rollback;
    },
  };

  /**
   * The ring's targets in `statuses` and, with `uncertain`, those whose install was started but
   * never reported (the deployer failed or the worker died mid-batch): they may be patched, and
   * undoing a patch that is not there changes nothing.
   */
  /** The cycle's staging hosts, once each, as the checks address them. */
  async function stagingHosts(cycleId: string): Promise<StagingHost[]> {
    const hosts = new Map<string, StagingHost>();
    for (const t of await ringTargets(db, cycleId, STAGING_RING))
      hosts.set(t.hostname, { hostname: t.hostname, address: t.address });
    return [...hosts.values()];
  }

  async function patchedTargets(
    cycleId: string,
    ring: string,
    statuses: string[],
    opts: { uncertain?: boolean } = {},
  ): Promise<RingTarget[]> {
    const wanted = new Set(
      (
        (await db('cycle_targets as t')
          .where({ 't.cycle_id': cycleId, 't.ring': ring })
          .where((q) => {
            void q.whereIn('t.status', statuses);
            if (opts.uncertain)
              void q.orWhere((u) => {
                void u
                  .where('t.status', 'pending')
                  .whereExists(
                    db('deployments as d')
                      .whereRaw('d.cycle_id = t.cycle_id and d.asset_id = t.asset_id and d.patch_id = t.patch_id')
                      .where('d.phase', 'deployment')
                      .whereIn('d.outcome', ['running', 'interrupted']),
                  );
              });
          })
          .select('t.asset_id', 't.patch_id')) as { asset_id: string; patch_id: string }[]
      ).map((r) => `${r.asset_id}:${r.patch_id}`),
    );
    return (await ringTargets(db, cycleId, ring)).filter((t) => wanted.has(`${t.assetId}:${t.patchId}`));
  }
}
