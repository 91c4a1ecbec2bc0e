import { z } from 'zod';
import type { ApprovalChannel } from './approvals.ts';
import type { BackupProvider } from './backup.ts';
import type { ChangeRecord } from './change-record.ts';
import type { PatchDeployer } from './deployer.ts';
import type { AdvisoryFeed } from './feed.ts';
import type { InventorySource } from './inventory.ts';
import type { Notifier } from './notifier.ts';
import type { VulnerabilityScanner } from './scanner.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { ConnectorEnv } from './env.ts';

export interface ConnectionCheck {
  ok: boolean;
  message: string;
}

/** Every role a connector may fill; a connector declares the ones it fills in `capabilities`. */
export interface ConnectorRoles {
  deployer: PatchDeployer;
  inventory: InventorySource;
  backup: BackupProvider;
  scanner: VulnerabilityScanner;
  feed: AdvisoryFeed;
  notifier: Notifier;
  approvals: ApprovalChannel;
  changeRecord: ChangeRecord;
}
export type RoleName = keyof ConnectorRoles;

export interface ConnectorDeps {
  logger: Logger;
  /** Folder where a connector may keep working files (rendered inventories, downloaded reports). */
  workDir: string;
}

/** Which roles a connector fills, e.g. `{ deployer: true, inventory: true }`. */
export type Capabilities = Readonly<Partial<Record<RoleName, true>>>;

export type ConnectorInstance<C extends Capabilities = Capabilities> = Pick<ConnectorRoles, keyof C & RoleName> & {
  testConnection(): Promise<ConnectionCheck>;
};

export interface ConnectorDefinition<S extends z.ZodType = z.ZodType, C extends Capabilities = Capabilities> {
  id: string;
  title: string;
  configSchema: S;
  capabilities: C;
  /** Environment variables that configure the connector, when it may be configured that way. */
  env?: ConnectorEnv;
  create(config: z.output<S>, deps: ConnectorDeps): ConnectorInstance<C>;
}

/** Identity function that lets TypeScript infer a connector's config type and roles from its parts. */
export function defineConnector<S extends z.ZodType, C extends Capabilities>(
  def: ConnectorDefinition<S, C>,
): ConnectorDefinition<S, C> {
  return def;
}

/** Marks a config string as a secret: it is redacted wherever config is printed or logged. */
export function secret() {
  return z.string().min(1).meta({ secret: true });
}

/** Returns a copy of a parsed config with every field whose schema is marked `secret()` replaced. */
export function redactConfig(schema: z.ZodType, value: unknown): unknown {
  const layers = wrappers(schema);
  // The mark sits on the inner schema of `secret().optional()`, so every wrapper layer is asked.
  if (layers.some((s) => z.globalRegistry.get(s)?.['secret'] === true)) return value === undefined ? undefined : '***';
  const inner = layers.at(-1);
  if (inner instanceof z.ZodObject && value && typeof value === 'object') {
    const shape = inner.shape as Record<string, z.ZodType>;
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, shape[k] ? redactConfig(shape[k], v) : v]),
    );
  }
  return value;
}

/** The schema and each schema it wraps (optional, default, nullable), outermost first. */
function wrappers(schema: z.ZodType): z.ZodType[] {
  const layers = [schema];
  let s: z.ZodType = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) {
    s = s.unwrap() as z.ZodType;
    layers.push(s);
  }
  return layers;
}
