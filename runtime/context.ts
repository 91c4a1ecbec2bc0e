import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { describeDatabase, migrateToLatest, openDatabase, type Db } from '../db/knex.ts';
import { createLogger, type Logger } from '../kernel/logger.ts';
import type { ConnectorRegistry } from '../integrations/contract/registry.ts';
import { createConnectorRegistry } from '../integrations/registry.ts';
import type { TemporalSettings } from '../temporal.config.ts';
import type { AppContext } from '../app/context.ts';
import type { Settings } from './settings.ts';

export function connectionOptions(t: TemporalSettings): ConnectionOptions & NativeConnectionOptions {
  const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const tls = t.tls
    ? {
        serverNameOverride: t.tls.serverName,
        serverRootCACertificate: read(t.tls.serverRootCaPath),
        clientCertPair:
          t.tls.clientCertPath && t.tls.clientKeyPath
            ? { crt: read(t.tls.clientCertPath)!, key: read(t.tls.clientKeyPath)! }
            : undefined,
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
  logger.info('database ready', {
    database: describeDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir }),
    migrationsApplied: applied.length,
  });
  return connectContext(settings, db, logger);
}

/** The context around a database that is open and migrated already: connectors configured, Temporal connected. */
export async function connectContext(settings: Settings, db: Db, logger: Logger): Promise<AppContext> {
  return {
    settings,
    db,
    logger,
    registry: configureRegistry(settings, logger),
    temporal: await connectTemporalClient(settings.temporal),
  };
}
