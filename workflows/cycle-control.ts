import {
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  setHandler,
  type ChildWorkflowHandle,
  type Workflow,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import {
  cancelCycleUpdate,
  cycleControlSignal,
  pauseCycleUpdate,
  resumeCycleUpdate,
  type CycleControlArgs,
} from './messages.ts';
import { patches } from './patches.ts';
import type { CyclePhase, CycleStatus } from './types.ts';

/** Whether an approved rollout may go on, and who last said otherwise. */
export interface CycleControlState {
  cycleId: string;
  phase: CyclePhase;
  status: CycleStatus;
  paused: boolean;
  cancelled: boolean;
  by: string | null;
  reason: string | null;
}

interface CycleView {
  phase: CyclePhase;
  status: CycleStatus;
}

/**
 * Relays control state to a started child workflow until it returns: the state as it stands when
 * the child starts (when it says pause or cancel), then every change. A child that finished
 * meanwhile has nothing left to hold, so a signal it cannot take is dropped.
 */
function controlRelay() {
  let forward: ((s: CycleControlState) => Promise<void>) | undefined;
  return {
    send: async (s: CycleControlState) => forward?.(s),
    async run<W extends Workflow>(
      child: ChildWorkflowHandle<W>,
      now: CycleControlState | undefined,
    ): Promise<Awaited<ReturnType<W>>> {
      forward = (s) => child.signal(cycleControlSignal, s).catch(() => undefined);
      if (now?.paused || now?.cancelled) await forward(now);
      try {
        return (await child.result()) as Awaited<ReturnType<W>>;
      } finally {
        forward = undefined;
      }
    },
  };
}

const refuse = (message: string): never => {
  throw ApplicationFailure.create({ type: 'ConflictError', message, nonRetryable: true });
};
const because = (args: CycleControlArgs) => (args.reason?.trim() ? `: ${args.reason.trim()}` : '');

/**
 * Pause, resume and cancel for the cycle workflow. They act on an approved rollout only — before
 * approval the CAB gate decides — and take effect between rings: the deployment child receives
 * the state as a signal and holds before its next ring; the cycle itself holds at its next step.
 */
export function installCycleControl(opts: {
  cycleId: string;
  view: () => CycleView;
  /** Records the new status, the workflow's own view included (for gates started before `controlBeforeRecord`). */
  setStatus: (status: CycleStatus, note: string) => Promise<void>;
  /** Takes the new status into the workflow's view at once, without recording it. */
  showStatus: (status: CycleStatus) => void;
  /** Records a status the view already shows. */
  recordStatus: (status: CycleStatus, note: string) => Promise<void>;
}) {
  const controlFirst = patched(patches.controlBeforeRecord);
  /** Records of control changes, one after another in the order they were made. */
  let records: Promise<void> = Promise.resolve();
  let paused = false;
  let cancelled = false;
  let by: string | null = null;
  let reason: string | null = null;
  let resumeTo: CycleStatus = 'running';
  const relay = controlRelay();

  const state = (): CycleControlState => ({ cycleId: opts.cycleId, ...opts.view(), paused, cancelled, by, reason });
  const where = () => `cycle ${opts.cycleId} is in phase ${opts.view().phase} (${opts.view().status})`;
  const rolloutUnderway = () => paused || opts.view().phase === 'deployment' || opts.view().status === 'scheduled';
  const requireRollout = (verb: string) => {
    if (cancelled) refuse(`cycle ${opts.cycleId} is already being cancelled`);
    if (!rolloutUnderway())
      refuse(`${where()}: only an approved rollout can be ${verb}; it takes effect between rings`);
  };
  /**
   * The rollout hears of a change first, so that a pause holds within the batch under way
   * however slow the database, chat or ITSM are; the record follows, retried, in order.
   */
  const changed = async (status: CycleStatus, note: string) => {
    if (!controlFirst) {
      await opts.setStatus(status, note);
      await relay.send(state());
      return state();
    }
    opts.showStatus(status);
    await relay.send(state());
    // Best effort once retries are spent: the rollout already obeys, and the next step records the cycle again.
    records = records.then(() => opts.recordStatus(status, note)).catch(() => undefined);
    return state();
  };

  setHandler(
    pauseCycleUpdate,
    async (args) => {
      paused = true;
      by = args.by;
      reason = args.reason?.trim() || null;
      resumeTo = opts.view().status;
      return changed('paused', `paused by ${args.by}${because(args)}; the rollout holds before its next ring`);
    },
    {
      validator: (_args: CycleControlArgs) => {
        if (paused) refuse(`cycle ${opts.cycleId} is already paused (by ${by})`);
        requireRollout('paused');
      },
    },
  );
  setHandler(
    resumeCycleUpdate,
    async (args) => {
      paused = false;
      by = args.by;
      reason = args.reason?.trim() || null;
      return changed(resumeTo, `resumed by ${args.by}${because(args)}`);
    },
    {
      validator: (_args: CycleControlArgs) => {
        if (!paused) refuse(`${where()}: it is not paused`);
      },
    },
  );
  setHandler(
    cancelCycleUpdate,
    async (args) => {
      cancelled = true;
      by = args.by;
      reason = args.reason?.trim() || null;
      const status = paused ? resumeTo : opts.view().status;
      paused = false;
      return changed(status, `cancel requested by ${args.by}${because(args)}; no further ring will start`);
    },
    { validator: (_args: CycleControlArgs) => requireRollout('cancelled') },
  );

  return {
    /**
     * Resolves once every control change so far is recorded: the cycle waits for it before it
     * records its next step. Undefined for cycles that recorded each change before relaying it.
     */
    recorded: (): Promise<void> | undefined => (controlFirst ? records : undefined),
    cancelled: () => cancelled,
    cancelReason: () => `cancelled by ${by}${reason ? `: ${reason}` : ''}; later rings were not touched`,
    /** Holds while paused; true when the cycle was cancelled instead. */
    async checkpoint(): Promise<boolean> {
      await condition(() => !paused || cancelled);
      return cancelled;
    },
    /** "Approve now, run in the window": holds until `notBefore` (or a cancel), then at the checkpoint. */
    async holdUntil(notBefore: string | undefined, scheduled: (note: string) => Promise<void>): Promise<boolean> {
      const wait = notBefore ? Date.parse(notBefore) - Date.now() : 0;
      if (wait > 0) {
        await scheduled(`approved; deployment waits for ${notBefore}`);
        await condition(() => cancelled, wait);
      }
      return this.checkpoint();
    },
    /** Runs a started child under control: pause and cancel reach it as signals until it returns. */
    controlled: <W extends Workflow>(child: ChildWorkflowHandle<W>) => relay.run(child, state()),
  };
}

/**
 * The deployment's side: between rings it holds while the cycle is paused and stops when it was
 * cancelled. The cycle forwards its state once, when it changes, so a run that continues as new
 * starts from the state the previous run last received (`carried`) — or a pause would be lost.
 */
export function installRingGate(carried?: CycleControlState) {
  const holdRecords = proxyActivities<Activities>({
    startToCloseTimeout: '1m',
    retry: { initialInterval: '1s', maximumInterval: '30s' },
  });
  let control: CycleControlState | undefined = carried;
  const relay = controlRelay();
  setHandler(cycleControlSignal, async (s) => {
    control = s;
    await relay.send(s);
  });
  return {
    /** True when the rollout must stop before the next ring. */
    async cancelledBeforeNextRing(): Promise<boolean> {
      const held = control;
      if (held?.paused && !held.cancelled && patched(patches.ringGateRecordsHold)) {
        // A ring or batch that began as the pause arrived may have recorded the rollout as running; the hold is what is true now.
        await holdRecords.setCycleState({
          cycleId: held.cycleId,
          phase: 'deployment',
          status: 'paused',
          note: `holding before the next ring: paused by ${held.by}${held.reason ? `: ${held.reason}` : ''}`,
        });
      }
      await condition(() => !control?.paused || control.cancelled);
      return control?.cancelled === true;
    },
    /** What to carry into a run that continues as new. */
    state: () => control,
    /** Runs a started child (a large ring's batches) under this gate: pause and cancel reach it between its batches. */
    controlled: <W extends Workflow>(child: ChildWorkflowHandle<W>) => relay.run(child, control),
    /** For waits longer than a ring (a maintenance window, a soak): a cancel ends them early. */
    cancelled: () => control?.cancelled === true,
    reason: () =>
      `cancelled by ${control?.by ?? 'a coordinator'}${control?.reason ? `: ${control.reason}` : ''}; later rings were not touched`,
  };
}
