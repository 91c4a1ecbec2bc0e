import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  ChangeRecord,
  ChangeRecordContent,
  ChangeRecordRef,
  ChangeStage,
  ConnectionCheck,
} from '../../integrations/contract/index.ts';
import { NotFoundError, UpstreamError } from '../../kernel/errors.ts';

/** A record as the ITSM tool holds it, read without the connector, in Patchflow's terms. */
export interface ChangeRecordSnapshot {
  stage: ChangeStage;
  /** Every stage the record has been in, oldest first (the vendor's states mapped back to stages). */
  stageHistory: ChangeStage[];
  title: string;
  /** Every text field of the record joined: description, plans, justification. */
  text: string;
  notes: { text: string; internal: boolean }[];
}

/** What a connector's test gives the contract: the role talking to a fresh ITSM tool (an emulator, or the real thing). */
export interface ChangeRecordHarness {
  changeRecord: ChangeRecord;
  read(ref: ChangeRecordRef): Promise<ChangeRecordSnapshot>;
  /** A reference of the right shape to a record that does not exist. */
  unknownRef: ChangeRecordRef;
  testConnection(): Promise<ConnectionCheck>;
  testConnectionWithBadCredentials(): Promise<ConnectionCheck>;
  /** The next `count` requests to the tool answer with this HTTP status. */
  failNextRequests(status: number, count: number): void;
  close(): Promise<void>;
}

let seq = 0;

/** A change as the mirror builds it; `stage` and the outcome vary per test. */
export function sampleChange(stage: ChangeStage, extra: Partial<ChangeRecordContent> = {}): ChangeRecordContent {
  const cycleId = `cyc-20250301-${(++seq).toString(16).padStart(6, '0')}`;
  return {
    cycleId,
    title: `demo-app 2.4.1 security update (${cycleId})`,
    description:
      'Awaiting CAB approval: 0 of 1 approvals\n\nScope: DEMO-APP-2.4.1 on 4 host(s)\nRisk: 1 known-exploited (KEV)',
    emergency: false,
    justification: 'Risk: 1 known-exploited (KEV); top CVE-2024-3094 CVSS 10.',
    implementationPlan:
      'Patchflow deploys demo-app to 4 host(s), one ring at a time, least critical first:\n1. pilot: web-01, web-02',
    backoutPlan:
      'The rollout halts when a ring has more than 20% failed hosts. Patched hosts are restored with the ansible connector rollback action.',
    risk: 'high',
    window: { start: '2025-03-01T22:00:00.000Z', end: '2025-03-02T02:00:00.000Z' },
    stage,
    decision: null,
    closure: stage === 'closed' ? { code: 'successful', notes: 'Completed: 4 of 4 hosts patched and verified' } : null,
    ...extra,
  };
}

const forward: ChangeStage[] = ['authorize', 'scheduled', 'implement', 'review', 'closed'];
/** The stages Patchflow names, in the order a record went through them (vendor-only steps such as Assess left out). */
const patchflowStages = (history: ChangeStage[]) => history.filter((s) => s !== 'assess');

/**
 * The ChangeRecord contract every ITSM connector passes against its emulator: a record opened
 * once, walked step by step through the vendor's process, refreshed without moving, evidence as
 * internal notes, finished records left alone, and failures classified. Each test starts fresh.
 */
export function describeChangeRecordContract(name: string, setup: () => Promise<ChangeRecordHarness>): void {
  describe(`ChangeRecord contract: ${name}`, () => {
    let h: ChangeRecordHarness;
    beforeEach(async () => {
      h = await setup();
    });
    afterEach(async () => h.close());

    it('opens a record in its first stage with the title, the plans and the backout plan, and returns a plain-data reference', async () => {
      const change = sampleChange('authorize');
      const ref = await h.changeRecord.open(change);
      expect(JSON.parse(JSON.stringify(ref))).toEqual(ref);
      const record = await h.read(ref);
      expect(record.stage).toBe('new');
      expect(record.title).toBe(change.title);
      for (const text of [change.implementationPlan, change.backoutPlan, change.justification])
        expect(record.text).toContain(text);
    });

    it('moves the record stage by stage to authorize, scheduled, implement, review and closed', async () => {
      const ref = await h.changeRecord.open(sampleChange('authorize'));
      for (const stage of forward) {
        await h.changeRecord.update(ref, sampleChange(stage, { decision: stage === 'authorize' ? null : 'approved' }));
        expect((await h.read(ref)).stage).toBe(stage);
      }
      expect(patchflowStages((await h.read(ref)).stageHistory)).toEqual(['new', ...forward]);
    });

    it('walks every step the process requires when the change is several stages ahead', async () => {
      const ref = await h.changeRecord.open(sampleChange('authorize'));
      await h.changeRecord.update(ref, sampleChange('review', { decision: 'approved' }));
      expect(patchflowStages((await h.read(ref)).stageHistory)).toEqual([
        'new',
        'authorize',
        'scheduled',
        'implement',
        'review',
      ]);
    });

    it('takes an emergency change through to closed as well', async () => {
      const ref = await h.changeRecord.open(sampleChange('authorize', { emergency: true }));
      await h.changeRecord.update(ref, sampleChange('closed', { emergency: true, decision: 'approved' }));
      const record = await h.read(ref);
      expect(record.stage).toBe('closed');
      expect(patchflowStages(record.stageHistory)).toEqual(['new', ...forward]);
    });

    it('cancels a rejected change', async () => {
      const ref = await h.changeRecord.open(sampleChange('authorize'));
      await h.changeRecord.update(ref, sampleChange('authorize'));
      await h.changeRecord.update(ref, sampleChange('canceled', { decision: 'rejected' }));
      expect(patchflowStages((await h.read(ref)).stageHistory)).toEqual(['new', 'authorize', 'canceled']);
    });

    it('refreshes the record in place: the same stage twice moves nothing, new text replaces the old', async () => {
      const ref = await h.changeRecord.open(sampleChange('authorize'));
      await h.changeRecord.update(ref, sampleChange('implement', { decision: 'approved' }));
      const before = await h.read(ref);
      await h.changeRecord.update(
        ref,
        sampleChange('implement', {
          decision: 'approved',
          description: 'pilot: 2/2 done: 2 patched, 0 already compliant',
        }),
      );
      const after = await h.read(ref);
      expect(after.stageHistory).toEqual(before.stageHistory);
      expect(after.text).toContain('pilot: 2/2 done: 2 patched');
    });

    it('leaves a finished record where it is', async () => {
      const ref = await h.changeRecord.open(sampleChange('authorize'));
      await h.changeRecord.update(ref, sampleChange('closed', { decision: 'approved' }));
      await h.changeRecord.update(ref, sampleChange('implement', { decision: 'approved' }));
      await h.changeRecord.update(ref, sampleChange('canceled'));
      expect((await h.read(ref)).stage).toBe('closed');
    });

    it('adds evidence as internal notes, in order, each with its title and lines', async () => {
      const ref = await h.changeRecord.open(sampleChange('authorize'));
      await h.changeRecord.addEvidence(ref, {
        key: 'testing:staging',
        title: 'Test on the staging group',
        lines: ['staging: 1/1 done: 1 patched, 0 already compliant'],
      });
      await h.changeRecord.addEvidence(ref, {
        key: 'decision:alice',
        title: 'CAB approval',
        lines: ['Alice approved via rest at 2025-03-01 10:00 UTC: rollback plan reviewed'],
      });
      const { notes } = await h.read(ref);
      expect(notes).toHaveLength(2);
      expect(notes.every((n) => n.internal)).toBe(true);
      expect(notes[0]!.text).toContain('Test on the staging group');
      expect(notes[0]!.text).toContain('staging: 1/1 done: 1 patched');
      expect(notes[1]!.text).toContain('Alice approved via rest');
    });

    it('says a record that does not exist is not found', async () => {
      await expect(h.changeRecord.update(h.unknownRef, sampleChange('implement'))).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await expect(
        h.changeRecord.addEvidence(h.unknownRef, { key: 'k', title: 't', lines: ['l'] }),
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it('classifies an outage as a retryable upstream error', async () => {
      h.failNextRequests(503, 1);
      const err = await h.changeRecord.open(sampleChange('authorize')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).retryable).toBe(true);
    });

    it('testConnection succeeds against the tool and fails with bad credentials', async () => {
      const ok = await h.testConnection();
      expect(ok.ok, ok.message).toBe(true);
      const bad = await h.testConnectionWithBadCredentials();
      expect(bad.ok).toBe(false);
      expect(bad.message).toMatch(/401/);
    });
  });
}
