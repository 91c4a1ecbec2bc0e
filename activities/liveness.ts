import type { Context } from '@temporalio/activity';
import type { DeployRequest, DeployTarget, HostResult, PatchDeployer } from '../integrations/contract/index.ts';
import { UpstreamError } from '../kernel/errors.ts';
import type { ActivityDeps } from './index.ts';

/** See ActivityDeps.hostTimeoutMs. */
export const DEFAULT_HOST_TIMEOUT_MS = 30 * 60_000;

/**
 * Liveness from progress, not from a timer. The worker's timer heartbeat (wrapper.ts) only proves
 * that Node is running; a WinRM call or a playbook that hangs would stay "alive" until the 2 h
 * start-to-close timeout. A watch gives the deployer a signal that aborts once it has shown no
 * progress (a host done, a job status polled) for `silenceMs`, and says so in words.
 */
export interface ProgressWatch {
  /** Hand to the deployer as its onProgress: each note is progress, and a heartbeat. */
  progress(note: string): void;
  /** Aborts when the activity is cancelled or the deployer falls silent. */
  readonly signal: AbortSignal;
  /** The error to raise in place of the deployer's abort, when silence was the cause. */
  silence(): UpstreamError | undefined;
  stop(): void;
}

export function watchProgress(ctx: Context, silenceMs: number, what: string): ProgressWatch {
  let last = Date.now();
  let silent: UpstreamError | undefined;
  const controller = new AbortController();
  const timer = setInterval(
    () => {
      if (silent || Date.now() - last <= silenceMs) return;
      silent = new UpstreamError(`no progress from ${what} for ${Math.round(silenceMs / 1000)}s: given up as hung`);
      controller.abort(silent);
    },
    Math.max(50, Math.min(1000, silenceMs / 4)),
  );
  return {
    progress(note) {
      last = Date.now();
      ctx.heartbeat(note);
    },
    signal: AbortSignal.any([ctx.cancellationSignal, controller.signal]),
    silence: () => silent,
    stop: () => clearInterval(timer),
  };
}

/** Runs a deployer call under a watch: a call that fell silent fails with the watch's words, not an AbortError. */
export async function underWatch<T>(
  ctx: Context,
  silenceMs: number,
  what: string,
  call: (watch: ProgressWatch) => Promise<T>,
): Promise<T> {
  const watch = watchProgress(ctx, silenceMs, what);
  try {
    return await call(watch);
  } catch (err) {
    throw watch.silence() ?? err;
  } finally {
    watch.stop();
  }
}

const describeHosts = (targets: DeployTarget[]) =>
  targets.length <= 3
    ? targets.map((t) => t.hostname).join(', ')
    : `${targets
        .slice(0, 3)
        .map((t) => t.hostname)
        .join(', ')} and ${targets.length - 3} more`;

/** The deployer with every call under a watch: its progress notes heartbeat, and a silent call is given up. */
export function watchedDeployer(deployer: PatchDeployer, ctx: Context, silenceMs: number, id: string): PatchDeployer {
  const watched =
    (action: keyof PatchDeployer) =>
    (req: DeployRequest): Promise<HostResult[]> =>
      underWatch(ctx, silenceMs, `${id} (${action} ${req.patch.patchId} on ${describeHosts(req.targets)})`, (w) =>
        deployer[action]({ ...req, onProgress: w.progress, signal: w.signal }),
      );
  return { deploy: watched('deploy'), verify: watched('verify'), rollback: watched('rollback') };
}

/** A configured deployer (the default one unless `id` names another), watched (see watchedDeployer), for a host activity. */
export function hostDeployer(deps: ActivityDeps, ctx: Context, id = deps.deployerId): PatchDeployer {
  return watchedDeployer(deps.registry.role(id, 'deployer'), ctx, deps.hostTimeoutMs ?? DEFAULT_HOST_TIMEOUT_MS, id);
}
