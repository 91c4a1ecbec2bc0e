/**
 * The one list of a cycle's states, read by the workflows that set them and by the CLI, REST and
 * the dashboard that show them. A cycle in a terminal state never changes again.
 */
export const cycleStatuses = [
  'running',
  'awaiting_approval',
  /** Approved; deployment waits for the approved not-before time. */
  'scheduled',
  /** Approved; deployment waits for another running cycle to release hosts both target. */
  'queued',
  'paused',
  'completed',
  'completed_with_failures',
  'rejected',
  'expired',
  'halted',
  'failed',
  'cancelled',
] as const;

export type CycleStatus = (typeof cycleStatuses)[number];

export const terminalCycleStatuses: readonly CycleStatus[] = [
  'completed',
  'completed_with_failures',
  'rejected',
  'expired',
  'halted',
  'failed',
  'cancelled',
];

export function isTerminalCycleStatus(status: string): boolean {
  return (terminalCycleStatuses as readonly string[]).includes(status);
}

export const cyclePhases = [
  'scoping',
  'testing',
  'approval',
  'deployment',
  'verification',
  'reporting',
  'review',
  'done',
] as const;

export type CyclePhase = (typeof cyclePhases)[number];
