// The worker's workflowsPath: every workflow type Patchflow registers.
export { patchCycleWorkflow } from './patch-cycle.ts';
export { approvalWorkflow } from './approval.ts';
export { testingWorkflow, verificationWorkflow, reviewWorkflow } from './phases.ts';
export { deploymentWorkflow, ringBatchesWorkflow } from './deployment.ts';
export { feedSyncWorkflow } from './feed-sync.ts';
export { inventorySyncWorkflow } from './inventory-sync.ts';
