import { fileURLToPath } from 'node:url';
import { IllegalStateError } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { AppContext } from '../app/context.ts';
import { connectionOptions } from './context.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

let runtimeInstalled = false;

export async function createPatchflowWorker(ctx: AppContext, overrides: Partial<WorkerOptions> = {}): Promise<Worker> {
  if (!runtimeInstalled) {
    // The SDK logs every webpack module at INFO; warnings and errors are what operators need.
    // No SDK signal handlers: the CLI shuts the worker, server, database and dev server down in order.
    try {
      Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
    } catch (err) {
      // A process that embeds Patchflow (a test environment, a benchmark) set the runtime up first.
      if (!(err instanceof IllegalStateError)) throw err;
    }
    runtimeInstalled = true;
  }
  const connection = await NativeConnection.connect(connectionOptions(ctx.settings.temporal));
  return Worker.create({
    connection,
    namespace: ctx.settings.temporal.namespace,
    taskQueue: ctx.settings.temporal.taskQueue,
    activities: createActivities({
      db: ctx.db,
      registry: ctx.registry,
      logger: ctx.logger,
      deployerId: ctx.settings.deployer,
    }),
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
}
