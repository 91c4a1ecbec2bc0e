/**
 * Every `patched()` id the workflows branch on. Running histories carry these strings as markers
 * and replay against them, so an id never changes once shipped; a new behaviour gets a new id.
 */
export const patches = {
  /** Deployments run the rollout engine (batches, windows, budgets, soak); older ones deploy ring at a time. */
  rolloutEngine: 'rollout-engine',
  /** A large ring's batch child receives pause and cancel; older rollouts ran a slice to its end. */
  relayControlToBatches: 'relay-control-to-batches',
  /** The ring gate records the hold before it waits out a pause. */
  ringGateRecordsHold: 'ring-gate-records-hold',
  /** The cycle waits for the approval's not-before instant ("approve now, run in the window"). */
  approveNowRunInWindow: 'approve-now-run-in-window',
  /** The approval gate runs the full approval model; older executions replay the first gate. */
  approvalModel: 'approval-model-v2',
  /** Approval decisions are recorded with local activities; earlier ones scheduled regular ones. */
  approvalLocalDecisions: 'approval-local-decisions',
  /** A decision is recorded and the card refreshed in one local activity; earlier ones ran two. */
  approvalOneStepDecisions: 'approval-one-step-decisions',
  /**
   * A decision is checked again in the same synchronous step that records it, so two Updates from
   * one person in one activation count once; earlier gates checked only in the validator.
   */
  oneDecisionPerPerson: 'approval-one-decision-per-person',
  /**
   * A decision Update returns once the decision is recorded; the gate's own loop then refreshes
   * the cards with a regular activity. Earlier gates refreshed them inside the Update.
   */
  cardsRefreshedByGate: 'approval-cards-refreshed-by-gate',
  /**
   * A rollout that fails for good or is cancelled in Temporal rolls back the ring in progress as
   * policy says, outside the cancelled scope, and ends halted; earlier ones failed as they stood.
   */
  compensateFailedRollouts: 'deployment-compensates-failures',
  /**
   * A cycle that fails or is cancelled in Temporal is recorded as ended, outside the cancelled
   * scope, and its review starts; earlier cycles recorded a failure only, and not when cancelled.
   */
  cycleEndsOnRecord: 'cycle-ends-on-record',
  /** Pause, resume and cancel reach the rollout before they are recorded; earlier cycles recorded first. */
  controlBeforeRecord: 'cycle-control-before-record',
  /** Thresholds and the budget count failures among the hosts attempted (with a minimum sample); earlier, among all targets. */
  thresholdsOverAttempted: 'thresholds-over-attempted',
  /** A cycle claims its hosts before deploying and queues behind a cycle that holds some; earlier ones did not. */
  hostsClaimedBeforeDeployment: 'hosts-claimed-before-deployment',
  /** Host activities run on `<taskQueue>-hosts`; earlier workflows scheduled them on the main queue. */
  hostActivitiesOwnQueue: 'host-activities-own-queue',
  /** Testing runs the policy's staging checks (baseline, soak, functional and performance); earlier testing deployed only. */
  stagingChecks: 'staging-checks',
} as const;
