import { proxyActivities } from '@temporalio/workflow';

/** The P1 baseline: the same number of activities as a cycle, one after another, each doing nothing. */
export async function bareActivitiesWorkflow(count: number): Promise<void> {
  const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '1m' });
  for (let i = 0; i < count; i++) await noop();
}
