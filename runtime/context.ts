import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { describeDatabase, migrateToLatest, openDatabase, type Db } from '../db/knex.ts';
import { createLogger, redactedMark, registerSecrets, type Logger } from '../kernel/logger.ts';
import { redactConfig } from '../integrations/contract/connector.ts';
import type { ConnectorRegistry } from '../integrations/contract/registry.ts';
import { createConnectorRegistry } from '../integrations/registry.ts';
import { temporalSettingsSchema, type TemporalSettings } from '../temporal.config.ts';
import type { AppContext } from '../app/context.ts';
import type { Settings } from './settings.ts';

export function connectionOptions(t: TemporalSettings): ConnectionOptions & NativeConnectionOptions {
  const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const clientKey = read(t.tls?.clientKeyPath);
  if (clientKey) registerSecrets([clientKey.toString('utf8')]);
  const tls = t.tls
    ? {
        serverNameOverride: t.tls.serverName,
        serverRootCACertificate: read(t.tls.serverRootCaPath),
        clientCertPair:
          t.tls.clientCertPath && t.tls.clientKeyPath
            ? { crt: read(t.tls.clientCertPath)!, key: clientKey! }
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

/** Configures the connectors; every process that does so first makes the settings' secrets known to its logs. */
export function configureRegistry(settings: Settings, logger: Logger): ConnectorRegistry {
  const registry = createConnectorRegistry().configure(settings.connectors, {
    logger,
    workDir: path.resolve(settings.dataDir),
  });
  registerSecrets(settingsSecrets(settings, registry));
  return registry;
}

/**
 * The secret values in the settings: each connector setting marked `secret()` (found as the registry
 * finds it, by comparing the parsed config with its redacted copy), the Temporal API key, the OIDC
 * client secret and the database password. The Temporal TLS key is registered where it is read.
 */
export function settingsSecrets(settings: Settings, registry: ConnectorRegistry): string[] {
  const connectors = Object.entries(settings.connectors).map(([id, raw]) => {
    const schema = registry.get(id).definition.configSchema;
    const config: unknown = schema.parse(raw ?? {});
    return redactedLeaves(config, redactConfig(schema, config));
  });
  const temporal = redactedLeaves(settings.temporal, redactConfig(temporalSettingsSchema, settings.temporal));
  const dbPassword = settings.databaseUrl ? new URL(settings.databaseUrl).password : '';
  return [
    ...connectors.flat(),
    ...temporal,
    ...(settings.oidc?.clientSecret ? [settings.oidc.clientSecret] : []),
    ...(dbPassword ? [dbPassword, decodeURIComponent(dbPassword)] : []),
  ];
}

/** The strings of `value` that `redacted` (its redactConfig copy) replaced by the mark. */
function redactedLeaves(value: unknown, redacted: unknown): string[] {
  if (typeof value === 'string') return redacted === redactedMark && value !== redactedMark ? [value] : [];
  if (!value || typeof value !== 'object' || !redacted || typeof redacted !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => redactedLeaves(v, (redacted as Record<string, unknown>)[k]));
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
