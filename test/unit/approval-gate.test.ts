import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ApprovalGate } from '../../workflows/approval-gate.ts';
import type { ChangeRequest } from '../../workflows/approval-types.ts';

const change: ChangeRequest = {
  cycleId: 'cyc-20261203-abcdef',
  title: 'December updates',
  requester: 'carol',
  authors: ['carol'],
  patches: [],
  rings: [],
  assetCount: 0,
  targetCount: 0,
  risk: { kevCount: 0, topCves: [], nextDeadline: null, exposedCritical: [] },
  staging: null,
  window: null,
  rollbackPlan: 'restore the backups',
  emergency: null,
};

function refusalOf(run: () => void): ApplicationFailure {
  try {
    run();
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('the CAB gate refuses a decision before its change request is open', () => {
  it('says not ready until the pool exists, then validates the decider', () => {
    const gate = new ApprovalGate(
      { cycleId: change.cycleId, requester: 'carol', policy: { quorum: 1, timeout: '72h', remindEvery: '4h' } },
      Date.now(),
    );
    const early = refusalOf(() => gate.validateApproval({ by: 'alice', channel: 'rest' }));
    expect(early).toMatchObject({
      type: 'NotReadyError',
      message: `the change request for cycle ${change.cycleId} is still being gathered; decide in a moment`,
    });
    expect(refusalOf(() => gate.validateRejection({ by: 'alice', reason: 'no', channel: 'rest' })).type).toBe(
      'NotReadyError',
    );

    gate.openChange(change, { approvers: ['alice'], escalation: [], emergency: [] });
    expect(() => gate.validateApproval({ by: 'alice', channel: 'rest' })).not.toThrow();
    expect(refusalOf(() => gate.validateApproval({ by: 'carol', channel: 'rest' })).type).toBe('NotAllowedError');
  });
});
