import { appendAudit } from '../db/repositories/audit.ts';
import { approverPools, buildChangeRequest, saveApprovalState, saveChangeRequest } from '../db/repositories/changes.ts';
import { getCycle } from '../db/repositories/cycles.ts';
import { publishChangeEverywhere } from '../app/publish/index.ts';
import type {
  ApprovalPolicy,
  ApprovalState,
  ApproverPools,
  ChangeNotice,
  ChangeRequest,
} from '../workflows/approval-types.ts';
import type { ActivityDeps } from './index.ts';

/** What the CAB gate asks of the outside world: the change request, its pools, the record, the chat cards and the ITSM records. */
export function createApprovalActivities(deps: ActivityDeps) {
  const { db } = deps;
  const system = 'patchflow';

  return {
    async openChangeRequest(input: {
      cycleId: string;
      policy: ApprovalPolicy;
    }): Promise<{ change: ChangeRequest; pools: ApproverPools }> {
      const cycle = await getCycle(db, input.cycleId);
      const change = await buildChangeRequest(db, input.cycleId, {
        maxFailedPercent: cycle.policy.deployment.maxFailedPercent,
        deployer: deps.deployerId,
      });
      const pools = await approverPools(db, input.policy);
      await db.transaction(async (trx) => {
        await saveChangeRequest(trx, change, pools);
        await appendAudit(trx, {
          actor: system,
          action: 'change.requested',
          subjectType: 'cycle',
          subjectId: input.cycleId,
          data: {
            emergency: change.emergency,
            kev: change.risk.kevCount,
            window: change.window,
            authors: change.authors,
            pools: { ...pools },
          },
        });
      });
      return { change, pools };
    },

    /** Refreshes the cycle's cards in every chat and its records in every ITSM tool (opening them the first time) and posts a reminder or escalation notice. */
    async publishChange(input: { cycleId: string; state: ApprovalState; notice?: ChangeNotice }): Promise<void> {
      await saveApprovalState(db, input.state);
      await publishChangeEverywhere(deps, input.cycleId, input.notice);
    },

    async recordEscalation(input: { cycleId: string; to: string[]; pending: string[] }): Promise<void> {
      await appendAudit(db, {
        actor: system,
        action: 'change.escalated',
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { to: input.to, pending: input.pending },
      });
    },

    /** An emergency change ran on fewer approvals than usual: the record says so and asks for the review afterwards. */
    async recordEmergencyApproval(input: { cycleId: string; reason: string; approvedBy: string[] }): Promise<void> {
      await appendAudit(db, {
        actor: system,
        action: 'change.emergency_review_required',
        subjectType: 'cycle',
        subjectId: input.cycleId,
        data: { reason: input.reason, approvedBy: input.approvedBy },
      });
    },
  };
}
