import { z } from 'zod';
import { envVariableName } from '../../kernel/env.ts';
import type { ConnectorDefinition } from './connector.ts';

/**
 * How a connector reads its settings from environment variables. Each top-level key of its config
 * schema is read from `<PREFIX>_<KEY_IN_SNAKE_CASE>` (`botToken` under `SLACK` is `SLACK_BOT_TOKEN`).
 */
export interface ConnectorEnv {
  prefix: string;
  /** The setting that switches the connector on: without it the other variables are ignored. */
  requires?: string;
  /** Variables whose names do not follow the rule, by setting (kept for compatibility with deployed configs). */
  names?: Readonly<Record<string, string>>;
  /** Object-valued settings whose keys have a prefix of their own (`transitions` → `JIRA_SM_TRANSITION_<STAGE>`). */
  groups?: Readonly<Record<string, string>>;
}

/** The fields of an object schema, through the optional/default wrappers. */
function shapeOf(schema: z.ZodType): Record<string, z.ZodType> {
  let s: z.ZodType = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable)
    s = s.unwrap() as z.ZodType;
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>) : {};
}

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value ? value : undefined;
}

/** Every environment variable a connector reads, by setting path (`transitions.implement`), for docs and errors. */
export function connectorEnvVariables(def: ConnectorDefinition): Record<string, string> {
  const spec = def.env;
  if (!spec) return {};
  const out: Record<string, string> = {};
  for (const [key, field] of Object.entries(shapeOf(def.configSchema))) {
    const group = spec.groups?.[key];
    if (group) for (const sub of Object.keys(shapeOf(field))) out[`${key}.${sub}`] = envVariableName(group, sub);
    else out[key] = spec.names?.[key] ?? envVariableName(spec.prefix, key);
  }
  return out;
}

/**
 * The settings a connector's environment variables give (empty ones count as unset); undefined
 * when none is set, or when the one it `requires` is not, so that a connector nobody configured stays off.
 */
export function connectorSettingsFromEnv(
  def: ConnectorDefinition,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> | undefined {
  const spec = def.env;
  if (!spec) return undefined;
  const variables = connectorEnvVariables(def);
  if (spec.requires && !read(env, variables[spec.requires] ?? '')) return undefined;
  const settings: Record<string, unknown> = {};
  for (const [path, name] of Object.entries(variables)) {
    const value = read(env, name);
    if (value === undefined) continue;
    const [key, sub] = path.split('.') as [string, string | undefined];
    if (sub === undefined) settings[key] = value;
    else settings[key] = { ...(settings[key] as object | undefined), [sub]: value };
  }
  return Object.keys(settings).length ? settings : undefined;
}

/**
 * The connectors configured from environment variables merged over the same connectors' settings
 * from the config file. Undefined when no connector's variable is set, so that the file's
 * connectors (or the default) stand as they are.
 */
export function connectorsWithEnv(
  definitions: readonly ConnectorDefinition[],
  env: NodeJS.ProcessEnv,
  fromFile: unknown,
): Record<string, unknown> | undefined {
  const configured = definitions
    .map((def) => [def.id, connectorSettingsFromEnv(def, env)] as const)
    .filter((e): e is readonly [string, Record<string, unknown>] => e[1] !== undefined);
  if (configured.length === 0) return undefined;
  const base = (fromFile && typeof fromFile === 'object' ? fromFile : { ansible: {} }) as Record<string, unknown>;
  return {
    ...base,
    ...Object.fromEntries(
      configured.map(([id, settings]) => [id, { ...(base[id] as object | undefined), ...settings }]),
    ),
  };
}
