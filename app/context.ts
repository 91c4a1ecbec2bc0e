import type { Client } from '@temporalio/client';
import type { Db } from '../db/knex.ts';
import type { Logger } from '../kernel/logger.ts';
import type { ConnectorRegistry } from '../integrations/contract/registry.ts';
import type { Settings } from '../runtime/settings.ts';

/** What the server, the worker and their route/activity modules are given; built once per process. */
export interface AppContext {
  settings: Settings;
  db: Db;
  logger: Logger;
  registry: ConnectorRegistry;
  temporal: Client;
}
