import { describe, expect, it } from 'vitest';
import { cyclePolicySchema } from '../../app/cycle-policy.ts';
import { loosenedFieldsRefusal, policyChanges, policyNotes } from '../../app/policy-override.ts';

const configured = cyclePolicySchema.parse({ deployment: { failureBudget: { count: 5 } } });
const requested = (override: { approval?: object; deployment?: object }) =>
  cyclePolicySchema.parse({
    approval: { ...configured.approval, ...override.approval },
    deployment: { ...configured.deployment, ...override.deployment },
  });
const effects = (override: { approval?: object; deployment?: object }) =>
  Object.fromEntries(policyChanges(configured, requested(override)).map((c) => [c.path.join('.'), c.effect]));

describe('a cycle request may only tighten the configured policy', () => {
  it('calls more approvals, shorter timeouts, lower limits, backup and rollback on tightening', () => {
    expect(
      effects({
        approval: { quorum: 2, timeout: '24h', remindEvery: '1h', escalateAfter: '12h' },
        deployment: { maxFailedPercent: 5, failureBudget: { count: 2 }, soak: '1h', batchDuration: '30m' },
      }),
    ).toEqual({
      'approval.quorum': 'tightens',
      'approval.timeout': 'tightens',
      'approval.remindEvery': 'tightens',
      'approval.escalateAfter': 'tightens',
      'deployment.maxFailedPercent': 'tightens',
      'deployment.failureBudget': 'tightens',
      'deployment.soak': 'tightens',
      'deployment.batchDuration': 'tightens',
    });
    expect(effects({ deployment: { rollback: { failedRing: true, completedRings: true } } })).toEqual({
      'deployment.rollback.completedRings': 'tightens',
    });
  });

  it('calls the opposite loosening, and so is choosing the approvers, a new ring layout or another kind of budget', () => {
    expect(
      effects({
        approval: { quorum: 1, timeout: '96h', approverGroups: ['friends'] },
        deployment: {
          maxFailedPercent: 50,
          backup: false,
          healthCheck: false,
          failureBudget: { percent: 1 },
          rollback: { failedRing: false, completedRings: false },
          rings: [{ name: 'everything', criticality: [1, 2, 3, 4], maxConcurrency: 1000 }],
        },
      }),
    ).toEqual({
      'approval.timeout': 'loosens',
      'approval.approverGroups': 'loosens',
      'deployment.maxFailedPercent': 'loosens',
      'deployment.rings': 'loosens',
      'deployment.failureBudget': 'loosens',
      'deployment.healthCheck': 'loosens',
      'deployment.backup': 'loosens',
      'deployment.rollback.failedRing': 'loosens',
    });
    // The same rings with a smaller batch tighten; a bigger one loosens.
    const rings = configured.deployment.rings.map((r, i) => ({
      ...r,
      maxConcurrency: i === 0 ? 5 : r.maxConcurrency * 2,
    }));
    expect(effects({ deployment: { rings } })).toEqual({
      'deployment.rings.0.maxConcurrency': 'tightens',
      'deployment.rings.1.maxConcurrency': 'loosens',
      'deployment.rings.2.maxConcurrency': 'loosens',
      'deployment.rings.3.maxConcurrency': 'loosens',
    });
  });

  it('names each loosened field with what it was and why', () => {
    const refusal = loosenedFieldsRefusal(
      policyChanges(
        configured,
        requested({ approval: { quorum: 2, approverGroups: ['friends'] }, deployment: { maxFailedPercent: 50 } }),
      ),
    );
    expect(refusal?.details).toEqual([
      {
        path: ['policy', 'approval', 'approverGroups'],
        message: 'loosens the configured [] to ["friends"]: choosing who may approve a change is a policy change',
      },
      { path: ['policy', 'deployment', 'maxFailedPercent'], message: 'loosens the configured 20 to 50' },
    ]);
    expect(loosenedFieldsRefusal(policyChanges(configured, requested({ approval: { quorum: 3 } })))).toBeUndefined();
  });

  it('sums up the effective policy and lists what the request changed', () => {
    const effective = requested({ approval: { quorum: 2 } });
    expect(policyNotes(effective, policyChanges(configured, effective))).toEqual({
      summary:
        'quorum 2, fails closed after 72h; halts a ring above 20% failed, or at 5 host(s) failed overall; backup on; rolls back the failed ring; soak 0s with health check',
      changes: ['approval.quorum 1 → 2 (tightens)'],
    });
  });
});
