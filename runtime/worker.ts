import { fileURLToPath } from 'node:url';
import { routedDeployers } from '../app/deployer-routing.ts';
import { IllegalStateError } from '@temporalio/common';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type LogMetadata,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { AppContext } from '../app/context.ts';
import { durationMs } from '../kernel/duration.ts';
import type { Logger } from '../kernel/logger.ts';
import { hostTaskQueue } from '../workflows/activity-options.ts';
import { connectionOptions } from './context.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

let runtimeInstalled = false;

/**
 * The SDK's logger, less one warning that is by design here: the host-activity pool registers
 * activities only, and the SDK warns at start-up that it polls no workflow tasks.
 */
/**
 * The SDK's own log lines (activity failures, worker state) go through Patchflow's logger, so they
 * are JSON lines like the rest and redacted like the rest: an activity's error may quote a secret.
 */
class WorkerLogger extends DefaultLogger {
  constructor(logger: Logger) {
    super('WARN', ({ level, message, meta }) => {
      const fields = { source: 'temporal-sdk', ...meta };
      if (level === 'ERROR') logger.error(message, fields);
      else if (level === 'WARN') logger.warn(message, fields);
      else logger.info(message, fields);
    });
  }

  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (message.startsWith('No workflows registered')) return;
    super.log(level, message, meta);
  }
}

/**
 * A Patchflow worker process: the workflows and their bookkeeping on the main task queue, and the
 * activities that touch hosts on their own queue, with their own concurrency and rate limit, so
 * that a fleet's long installs never starve approvals or bookkeeping of other cycles.
 */
export class PatchflowWorkers {
  constructor(
    readonly main: Worker,
    readonly hosts: Worker,
  ) {}

  async run(): Promise<void> {
    await Promise.all([this.main.run(), this.hosts.run()]);
  }

  /** Runs until `fn` settles, then shuts both pools down. */
  async runUntil<R>(fn: () => Promise<R>): Promise<R> {
    const running = this.run();
    try {
      return await fn();
    } finally {
      this.shutdown();
      await running;
    }
  }

  shutdown(): void {
    for (const w of [this.main, this.hosts]) if (w.getState() === 'RUNNING') w.shutdown();
  }
}

export async function createPatchflowWorker(
  ctx: AppContext,
  overrides: Partial<WorkerOptions> = {},
): Promise<PatchflowWorkers> {
  if (!runtimeInstalled) {
    // The SDK logs every webpack module at INFO; warnings and errors are what operators need.
    // No SDK signal handlers: the CLI shuts the worker, server, database and dev server down in order.
    try {
      Runtime.install({ logger: new WorkerLogger(ctx.logger), shutdownSignals: [] });
    } catch (err) {
      // A process that embeds Patchflow (a test environment, a benchmark) set the runtime up first.
      if (!(err instanceof IllegalStateError)) throw err;
    }
    runtimeInstalled = true;
  }
  const { temporal } = ctx.settings;
  // A verify scanner that is not configured, or is no scanner, fails at start rather than after a cycle's deployment.
  if (ctx.settings.verifyScanner) ctx.registry.role(ctx.settings.verifyScanner, 'scanner');
  // Likewise every deployer the routing names.
  for (const id of routedDeployers(ctx.settings.deployers, ctx.settings.deployer)) ctx.registry.role(id, 'deployer');
  for (const id of routedDeployers(ctx.settings.backups, '').filter(Boolean)) ctx.registry.role(id, 'backup');
  const connection = await NativeConnection.connect(connectionOptions(temporal));
  const activities = createActivities({
    db: ctx.db,
    registry: ctx.registry,
    logger: ctx.logger,
    deployerId: ctx.settings.deployer,
    deployerRouting: ctx.settings.deployers,
    backupRouting: ctx.settings.backups,
    scannerId: ctx.settings.verifyScanner,
    hostTimeoutMs: durationMs(temporal.timeouts.hostTimeout),
  });
  const main = await Worker.create({
    connection,
    namespace: temporal.namespace,
    taskQueue: temporal.taskQueue,
    activities,
    // A prebuilt bundle (`npm run bundle:workflows`) starts workers without webpack and pins the code they replay.
    ...(overrides.workflowBundle
      ? {}
      : process.env['PATCHFLOW_WORKFLOW_BUNDLE']
        ? { workflowBundle: { codePath: process.env['PATCHFLOW_WORKFLOW_BUNDLE'] } }
        : { workflowsPath }),
    // A CAB decision's workflow task stays open while its local activity records the decision, so
    // the SDK's default of 40 slots queues the rest of a burst of clicks behind those in flight;
    // the pollers follow the SDK's guidance of half the slots.
    maxConcurrentWorkflowTaskExecutions: 100,
    maxConcurrentWorkflowTaskPolls: 50,
    ...overrides,
  });
  const hosts = await Worker.create({
    connection,
    namespace: temporal.namespace,
    taskQueue: hostTaskQueue(temporal.taskQueue),
    activities,
    maxConcurrentActivityTaskExecutions: temporal.hostActivities.concurrency,
    ...(temporal.hostActivities.perSecond !== undefined
      ? { maxTaskQueueActivitiesPerSecond: temporal.hostActivities.perSecond }
      : {}),
  });
  return new PatchflowWorkers(main, hosts);
}
