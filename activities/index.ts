import { Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { appendAudit, checkpointAudit, hasAudited } from '../db/repositories/audit.ts';
import {
  getCycle,
  recordApproval,
  recordVerification,
  ringTargets,
  scopeCycle,
  setCycleState,
} from '../db/repositories/cycles.ts';
import { saveApprovalState } from '../db/repositories/changes.ts';
import { usersWithRole } from '../db/repositories/users.ts';
import type { Logger } from '../kernel/logger.ts';
import type { ConnectorRegistry } from '../integrations/contract/registry.ts';
import type {
  ApprovalDecision,
  ApprovalResult,
  ApprovalState,
  CyclePhase,
  CycleScope,
  CycleStatus,
  VerificationOutcome,
} from '../workflows/types.ts';
import { publishChangeEverywhere } from '../app/publish/index.ts';
import { createApprovalActivities } from './approval.ts';
import { hostDeployer } from './liveness.ts';
import { wrapActivities } from './wrapper.ts';
import { createRolloutActivities } from './rollout.ts';
import { createFeedActivities } from './feeds.ts';
import { createInventoryActivities } from './inventory.ts';
import { verifyCycleTargets } from '../app/verification.ts';
import { byDeployerAndPatch, deployTargets } from './targets.ts';
import type { HostResult } from '../integrations/contract/index.ts';
import type { DeployerRouting } from '../app/deployer-routing.ts';

export interface ActivityDeps {
  db: Knex;
  registry: ConnectorRegistry;
  logger: Logger;
  /** Connector id of the deployer used for staging, rings and verification, unless the routing names another. */
  deployerId: string;
  /** Which deployer patches which host when there are several (by patch group, then platform). */
  deployerRouting?: DeployerRouting | undefined;
  /** Which backup connector backs up which host (by patch group, then platform); otherwise the host's deployer's own. */
  backupRouting?: DeployerRouting | undefined;
  /** Connector id of the scanner that re-scans a cycle's targets to verify it; without one the deployer's word is used. */
  scannerId?: string | undefined;
  /** How long a deployer call may show no progress before it is given up as hung (default 30 minutes). */
  hostTimeoutMs?: number | undefined;
}

/**
 * Activities hold no business logic: they read and record state in Postgres and call one
 * connector role. Each is safe to retry: records are keyed, and a host whose install is already
 * recorded (key cycle × asset × patch) is never handed to the deployer again.
 */
export function createActivities(deps: ActivityDeps) {
  const { db } = deps;
  const system = 'patchflow';
  const approval = createApprovalActivities(deps);

  /** Records a CAB decision and audits it, once: an attempt retried after the first one committed adds nothing. */
  /**
   * Records a decision once, however often it is retried, and, given the gate's state after it, the
   * change's state too: whoever reads the change next (the clicker's Teams card, `cycle status`)
   * sees the decision before the cards are refreshed.
   */
  const recordApprovalDecision = async (input: {
    cycleId: string;
    decision: ApprovalDecision;
    outcome: ApprovalResult['outcome'] | 'pending';
    state?: ApprovalState | undefined;
  }): Promise<void> => {
    await recordDecisionOnce(input);
    if (input.state) await saveApprovalState(db, input.state);
  };
  const recordDecisionOnce = async (input: {
    cycleId: string;
    decision: ApprovalDecision;
    outcome: ApprovalResult['outcome'] | 'pending';
  }): Promise<void> => {
    const d = input.decision;
    const event = {
      actor: d.by,
      action: d.decision === 'approve' ? 'change.approved' : 'change.rejected',
      subjectType: 'cycle',
      subjectId: input.cycleId,
    };
    const recorded = await recordApproval(db, {
      cycleId: input.cycleId,
      decision: d.decision,
      by: d.by,
      reason: d.reason,
      channel: d.channel,
    });
    if (!recorded && (await hasAudited(db, event))) return;
    await appendAudit(db, {
      ...event,
      data: {
        reason: d.reason ?? null,
        channel: d.channel,
        outcome: input.outcome,
        ...(d.notBefore ? { notBefore: d.notBefore } : {}),
      },
    });
  };

  return wrapActivities({
    ...approval,
    ...createRolloutActivities(deps),
    ...createFeedActivities(deps),
    ...createInventoryActivities(deps),

    async setCycleState(input: {
      cycleId: string;
      phase: CyclePhase;
      status: CycleStatus;
      summary?: Record<string, unknown>;
      note?: string | undefined;
    }): Promise<void> {
      await appendAudit(db, {
        actor: system,
        action: `cycle.${input.phase}`,
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { status: input.status, note: input.note ?? null },
      });
      // A cycle's end checkpoints the audit chain's head (its own end event included), and its result carries that head.
      const summary =
        input.phase === 'done'
          ? { ...input.summary, auditHead: await checkpointAudit(db, `cycle ${input.cycleId} ${input.status}`) }
          : input.summary;
      await setCycleState(db, input.cycleId, { ...input, summary });
      // Chat cards and ITSM change records show live per-ring progress; every state change of the cycle refreshes them.
      await publishChangeEverywhere(deps, input.cycleId);
    },

    async scopeCycle(input: { cycleId: string }): Promise<CycleScope> {
      const scope = await scopeCycle(db, input.cycleId);
      await appendAudit(db, {
        actor: system,
        action: 'cycle.scoped',
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { ...scope },
      });
      return scope;
    },

    async verifyCycle(input: { cycleId: string }): Promise<VerificationOutcome> {
      const ctx = Context.current();
      const cycle = await getCycle(db, input.cycleId);
      const rings = (await db('cycle_targets')
        .where({ cycle_id: input.cycleId })
        .whereIn('status', ['patched', 'already_compliant'])
        .distinct('ring')) as { ring: string }[];
      const targets = (await Promise.all(rings.map((r) => ringTargets(db, cycle.id, r.ring)))).flat();
      const { rows, summary: outcome } = await verifyCycleTargets(db, {
        cycleId: cycle.id,
        targets,
        scanner: deps.scannerId
          ? { id: deps.scannerId, scanner: deps.registry.role(deps.scannerId, 'scanner') }
          : undefined,
        deployerVerify: async ({ patch, targets: hosts }) => {
          const results: HostResult[] = [];
          for (const group of byDeployerAndPatch(hosts, { routing: deps.deployerRouting, deployerId: deps.deployerId }))
            results.push(
              ...(await hostDeployer(deps, ctx, group.deployerId).verify({
                cycleId: cycle.id,
                ring: 'verification',
                patch,
                targets: deployTargets(group.targets),
              })),
            );
          return results;
        },
        signal: ctx.cancellationSignal,
        onProgress: (note) => ctx.heartbeat(note),
      });
      await recordVerification(db, cycle.id, rows);
      await appendAudit(db, {
        actor: system,
        action: 'cycle.verified',
        subjectType: 'cycle',
        subjectId: cycle.id,
        data: { ...outcome },
      });
      return outcome;
    },

    async loadApprovers(_input: { cycleId: string }): Promise<string[]> {
      return (await usersWithRole(db, 'approver')).map((u) => u.id);
    },

    recordApprovalDecision,

    /**
     * Records a decision and then shows it on the cards, in one local activity, so that the person
     * who clicked sees the card change without a second pass through the worker. Recording is
     * retried until it succeeds, never twice (recordApprovalDecision); the cards stay best effort,
     * as publishChange is: a refresh that fails is logged, and the next event of the cycle refreshes them.
     */
    async recordAndShowDecision(input: {
      cycleId: string;
      decision: ApprovalDecision;
      outcome: ApprovalResult['outcome'] | 'pending';
      state: ApprovalState;
    }): Promise<void> {
      await recordApprovalDecision(input);
      await approval.publishChange({ cycleId: input.cycleId, state: input.state }).catch((err: unknown) => {
        deps.logger.warn('decision recorded but not shown', { cycleId: input.cycleId, err: (err as Error).message });
      });
    },

    async remindApprovers(input: { cycleId: string; pending: string[]; reminder: number }): Promise<void> {
      await appendAudit(db, {
        actor: system,
        action: 'change.reminder',
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { pending: input.pending, reminder: input.reminder },
      });
    },

    async recordApprovalExpiry(input: {
      cycleId: string;
      approvers: string[];
      decisions: ApprovalDecision[];
    }): Promise<void> {
      await appendAudit(db, {
        actor: system,
        action: 'change.expired',
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { approvers: input.approvers, approvals: input.decisions.length },
      });
    },

    async recordReviewFacts(input: { cycleId: string }): Promise<void> {
      const cycle = await getCycle(db, input.cycleId);
      const facts = { status: cycle.status, summary: cycle.summary, completedAt: cycle.completed_at };
      await db('reviews').insert({ cycle_id: cycle.id, status: 'collecting', facts }).onConflict('cycle_id').ignore();
      await appendAudit(db, {
        actor: system,
        action: 'review.opened',
        subjectType: 'cycle',
        subjectId: cycle.id,
        data: { status: cycle.status },
      });
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;
