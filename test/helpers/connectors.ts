import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { z } from 'zod';
import type {
  Capabilities,
  ConnectorDefinition,
  ConnectorDeps,
  ConnectorInstance,
} from '../../integrations/contract/connector.ts';
import { createLogger } from '../../kernel/logger.ts';

export const quietDeps: ConnectorDeps = { logger: createLogger({}, 'error'), workDir: os.tmpdir() };

/** Configures a connector from raw settings exactly as the registry does: parsed by its own schema. */
export function instantiate<S extends z.ZodType, C extends Capabilities>(
  def: ConnectorDefinition<S, C>,
  raw: z.input<S>,
): ConnectorInstance<C> {
  return def.create(def.configSchema.parse(raw), quietDeps);
}

export function readFixture(relativePath: string): string {
  return readFileSync(new URL(`../fixtures/${relativePath}`, import.meta.url), 'utf8');
}
