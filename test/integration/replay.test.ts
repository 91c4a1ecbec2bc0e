import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const dir = fileURLToPath(new URL('../fixtures/histories', import.meta.url));
const histories = readdirSync(dir).filter((f) => f.endsWith('.json'));

/**
 * Cycles running in production were started by older workflow code; today's code must replay
 * their histories exactly. A change that fails here needs `patched()` — not a re-recording.
 * v1: before the rollout engine and the richer approval model; v2: with them; v3: with decisions
 * recorded and shown by two local activities; v4: decisions recorded by a local activity and the
 * cards refreshed afterwards by the gate. (Recorded with test/helpers/record-histories.ts.)
 * `paths.*`: the rollout's and the gate's other paths — rollback at a threshold, batch children,
 * soak and health check, reminders and escalation, pause/resume/cancel Updates, a batch failed
 * for good, a cancel from Temporal, a queued cycle, failed staging checks, the approved window's
 * end (recorded with test/helpers/record-path-histories.ts).
 */
describe('replay of saved workflow histories', () => {
  it('has histories of each workflow generation for the approved, rejected and expired paths', () => {
    for (const generation of ['v1', 'v2', 'v3', 'v4']) {
      const cycles = histories.filter((f) => f.startsWith(`${generation}.`) && f.includes('patchCycleWorkflow')).sort();
      expect(cycles).toEqual(
        ['approved', 'expired', 'rejected'].map((s) => `${generation}.${s}.patchCycleWorkflow.json`),
      );
    }
  });

  it('has histories of every rollout and gate path', () => {
    const paths = new Set(histories.filter((f) => f.startsWith('paths.')).map((f) => f.split('.')[1]));
    expect([...paths].sort()).toEqual(
      [
        'approved-window-end',
        'batch-children',
        'escalation-expired',
        'failed-compensated',
        'pause-resume-cancel',
        'queue-holder',
        'queued',
        'soak-health',
        'staging-checks-failed',
        'temporal-cancel',
        'threshold-rollback',
      ].sort(),
    );
    expect(histories).toContain('paths.batch-children.ringBatchesWorkflow.deployment-test-0.json');
  });

  it.each(histories)('replays %s with the current workflow code', async (file) => {
    const saved = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { workflowId: string; history: unknown };
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: inject('workflowBundlePath') } },
        saved.history,
        saved.workflowId,
      ),
    ).resolves.toBeUndefined();
  });
});
