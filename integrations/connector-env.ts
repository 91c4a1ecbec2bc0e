import { jiraSmSettingsFromEnv } from './jira-sm/config.ts';
import { serviceNowSettingsFromEnv } from './servicenow/config.ts';
import { slackSettingsFromEnv } from './slack/config.ts';
import { teamsSettingsFromEnv } from './teams/config.ts';

/** Connectors that can be configured from environment variables, by connector id. */
const fromEnv: Record<string, (env: NodeJS.ProcessEnv) => Record<string, unknown> | undefined> = {
  slack: slackSettingsFromEnv,
  teams: teamsSettingsFromEnv,
  servicenow: serviceNowSettingsFromEnv,
  'jira-sm': jiraSmSettingsFromEnv,
};

/**
 * Connectors configured from environment variables (SLACK_*, TEAMS_*, SERVICENOW_*, JIRA_SM_*),
 * merged over the same connector's settings from the config file. Undefined when no such variable
 * is set, so that the file's connectors (or the default) stand as they are.
 */
export function connectorsWithEnv(env: NodeJS.ProcessEnv, fromFile: unknown): Record<string, unknown> | undefined {
  const configured = Object.entries(fromEnv)
    .map(([id, read]) => [id, read(env)] as const)
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
