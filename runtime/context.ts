import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { IllegalStateError } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, type NativeConnectionOptions, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { describeDatabase, migrateToLatest, openDatabase, type Db } from '../db/knex.ts';
import { createLogger, type Logger } from '../kernel/logger.ts';
import type { ConnectorRegistry } from '../integrations/contract/registry.ts';
import { createConnectorRegistry } from '../integrations/registry.ts';
import type { TemporalSettings } from '../temporal.config.ts';
import type { AppContext } from '../app/context.ts';
import type { Settings } from './settings.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

function connectionOptions(t: TemporalSettings): ConnectionOptions & NativeConnectionOptions {
  const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const tls = t.tls
    ? {
        serverNameOverride: t.tls.serverName,
        serverRootCACertificate: read(t.tls.serverRootCaPath),
        clientCertPair: t.tls.clientCertPath && t.tls.clientKeyPath ? { crt: read(t.tls.clientCertPath)!, key: read(t.tls.clientKeyPath)! } : undefined,
      }
    : t.apiKey
      ? true
      : undefined;
  return { address: t.address, ...(tls !== undefined ? { tls } : {}), ...(t.apiKey ? { apiKey: t.apiKey } : {}) };
}

export async function connectTemporalClient(t: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(t));
  return new Client({ connection, namespace: t.namespace });
}

export function openSettingsDatabase(settings: Settings): Db {
  return openDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir });
}

export function configureRegistry(settings: Settings, logger: Logger): ConnectorRegistry {
  return createConnectorRegistry().configure(settings.connectors, { logger, workDir: path.resolve(settings.dataDir) });
}

/** Everything a server or worker process needs, connected and migrated. */
export async function buildContext(settings: Settings, logger: Logger = createLogger()): Promise<AppContext> {
  const db = openSettingsDatabase(settings);
  const applied = await migrateToLatest(db);
  logger.info('database ready', { database: describeDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir }), migrationsApplied: applied.length });
  const registry = configureRegistry(settings, logger);
  const temporal = await connectTemporalClient(settings.temporal);
  return { settings, db, logger, registry, temporal };
}

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
    activities: createActivities({ db: ctx.db, registry: ctx.registry, logger: ctx.logger, deployerId: ctx.settings.deployer }),
    // A prebuilt bundle (`npm run bundle:workflows`) starts workers without webpack and pins the code they replay.
    ...(overrides.workflowBundle ? {} : process.env['PATCHFLOW_WORKFLOW_BUNDLE'] ? { workflowBundle: { codePath: process.env['PATCHFLOW_WORKFLOW_BUNDLE'] } } : { workflowsPath }),
    // A CAB decision's workflow task stays open while its local activities record the decision and
    // refresh the card, so the SDK's default of 40 slots queues the rest of a burst of clicks behind
    // those in flight; the pollers follow the SDK's guidance of half the slots.
    maxConcurrentWorkflowTaskExecutions: 100,
    maxConcurrentWorkflowTaskPolls: 50,
    ...overrides,
  });
}
