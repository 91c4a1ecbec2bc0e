/** How a setting is named as an environment variable: `oauthToken` under `SERVICENOW` is `SERVICENOW_OAUTH_TOKEN`. */
export function envVariableName(prefix: string, key: string): string {
  return `${prefix}_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** The entries that are set: an empty environment variable counts as unset. */
export function definedOnly(o: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}
