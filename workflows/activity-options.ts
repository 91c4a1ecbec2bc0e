import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { nonRetryableErrorTypes } from '../kernel/error-kinds.ts';
import { patches } from './patches.ts';
import { asDuration } from './time.ts';
import type { ActivityTimeouts } from './types.ts';

/** Bookkeeping activities: short, retried quickly. */
export function recordActivities(timeouts: ActivityTimeouts) {
  return proxyActivities<Activities>({
    startToCloseTimeout: asDuration(timeouts.activityStartToClose),
    retry: { initialInterval: '1s', maximumInterval: '30s', backoffCoefficient: 2, nonRetryableErrorTypes },
  });
}

/**
 * Activities that touch hosts: long, heartbeating, so that a dead worker is noticed within the
 * heartbeat timeout and the batch is retried — the idempotency records keep retries from repatching.
 */
export function hostActivities(timeouts: ActivityTimeouts) {
  return proxyActivities<Activities>({
    // Their own queue and worker pool (runtime/worker.ts); workflows from before it ran them on the main queue.
    ...(patched(patches.hostActivitiesOwnQueue) ? { taskQueue: hostTaskQueue(workflowInfo().taskQueue) } : {}),
    startToCloseTimeout: asDuration(timeouts.deploymentStartToClose),
    heartbeatTimeout: asDuration(timeouts.deploymentHeartbeat),
    retry: {
      initialInterval: '2s',
      maximumInterval: '1m',
      backoffCoefficient: 2,
      maximumAttempts: timeouts.deploymentAttempts ?? 10,
      nonRetryableErrorTypes,
    },
  });
}

/** The task queue of the activities that touch hosts, beside the workflows' own. */
export const hostTaskQueue = (taskQueue: string): string => `${taskQueue}-hosts`;
