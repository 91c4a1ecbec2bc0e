/** Workflow ids derive from the cycle id, so that the server can address a phase without a lookup. */
export const cycleWorkflowId = (cycleId: string): string => `patch-cycle-${cycleId}`;
export const approvalWorkflowId = (cycleId: string): string => `patch-cycle-${cycleId}-approval`;
export const phaseWorkflowId = (cycleId: string, phase: 'testing' | 'deployment' | 'verification' | 'review'): string =>
  `patch-cycle-${cycleId}-${phase}`;
