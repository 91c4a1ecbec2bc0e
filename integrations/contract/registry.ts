import type { z } from 'zod';
import type { ConnectorDefinition, ConnectorDeps, ConnectorInstance, ConnectorRoles, RoleName } from './connector.ts';
import { redactConfig } from './connector.ts';
import { ConflictError, InputError, NotFoundError, inputErrorFromZod } from '../../kernel/errors.ts';

type AnyDefinition = ConnectorDefinition<z.ZodType>;

export interface ConfiguredConnector {
  definition: AnyDefinition;
  /** The config as parsed, secrets redacted: safe to print. */
  redactedConfig: unknown;
  instance: ConnectorInstance;
}

/**
 * The explicit list of connector definitions, and the instances configured from settings.
 * A duplicate id is a programming error and fails at start-up, not at the first deployment.
 */
export class ConnectorRegistry {
  readonly definitions: ReadonlyMap<string, AnyDefinition>;
  private readonly configured = new Map<string, ConfiguredConnector>();

  constructor(definitions: readonly AnyDefinition[]) {
    const byId = new Map<string, AnyDefinition>();
    for (const def of definitions) {
      if (byId.has(def.id)) throw new ConflictError(`connector id "${def.id}" is registered twice`);
      byId.set(def.id, def);
    }
    this.definitions = byId;
  }

  /** Parses each connector's settings with its own schema; a bad field is named as `connectors.<id>.<field>`. */
  configure(settings: Record<string, unknown>, deps: ConnectorDeps): this {
    for (const [id, raw] of Object.entries(settings)) {
      const def = this.definitions.get(id);
      if (!def)
        throw new InputError(
          `unknown connector "${id}" in connectors settings; known: ${[...this.definitions.keys()].join(', ')}`,
          [{ path: ['connectors', id], message: 'unknown connector' }],
        );
      const parsed = def.configSchema.safeParse(raw ?? {});
      if (!parsed.success) {
        throw inputErrorFromZod(
          `settings for connector ${id}`,
          parsed.error.issues.map((i) => ({ ...i, path: ['connectors', id, ...i.path] })),
        );
      }
      this.configured.set(id, {
        definition: def,
        redactedConfig: redactConfig(def.configSchema, parsed.data),
        instance: def.create(parsed.data, { ...deps, logger: deps.logger.child({ connector: id }) }),
      });
    }
    return this;
  }

  list(): ConfiguredConnector[] {
    return [...this.configured.values()];
  }

  get(id: string): ConfiguredConnector {
    const c = this.configured.get(id);
    if (!c) throw new NotFoundError(`connector "${id}" is not configured`);
    return c;
  }

  /** Every configured connector that fills `role` (all the chats, all the ITSM tools), in configuration order. */
  allInRole<R extends RoleName>(role: R): { id: string; impl: ConnectorRoles[R] }[] {
    return this.list()
      .filter((c) => c.definition.capabilities[role])
      .map((c) => ({ id: c.definition.id, impl: this.role(c.definition.id, role) }));
  }

  /** The configured connector `id` in role `role`; fails clearly when it does not fill that role. */
  role<R extends RoleName>(id: string, role: R): ConnectorRoles[R] {
    const c = this.get(id);
    const impl = (c.instance as Partial<ConnectorRoles>)[role];
    if (!c.definition.capabilities[role] || !impl)
      throw new InputError(`connector "${id}" cannot act as ${role}`, [
        { path: ['connectors', id], message: `no ${role} capability` },
      ]);
    return impl as ConnectorRoles[R];
  }
}
