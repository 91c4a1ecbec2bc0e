import { App, type IHttpServerAdapter } from '@microsoft/teams.apps';
import type { CloudEnvironment } from '@microsoft/teams.api';
import type { ILogger } from '@microsoft/teams.common';
import { z } from 'zod';
import { UpstreamError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { TeamsConfig } from './config.ts';

/** Where the bot receives activities; the Azure Bot resource's messaging endpoint is `<public URL>/teams/messages`. */
export const TEAMS_MESSAGES_PATH = '/teams/messages';

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().int().positive(),
});
/** Tokens are renewed this long before they expire. */
const TOKEN_MARGIN_MS = 5 * 60_000;

/** The public cloud's endpoints, with sign-in and key discovery taken from the connector's settings. */
function teamsCloud(config: TeamsConfig): CloudEnvironment {
  return {
    loginEndpoint: config.loginUrl.replace(/\/+$/, ''),
    loginTenant: 'botframework.com',
    botScope: 'https://api.botframework.com/.default',
    tokenServiceUrl: 'https://token.botframework.com',
    openIdMetadataUrl: config.botOpenIdMetadataUrl,
    tokenIssuer: 'https://api.botframework.com',
    graphScope: 'https://graph.microsoft.com/.default',
  };
}

/** OAuth 2.0 client credentials against the app's tenant, cached until shortly before expiry. */
function clientCredentialsToken(config: TeamsConfig) {
  const cache = new Map<string, { token: string; until: number }>();
  return async (scope: string | string[], tenantId?: string): Promise<string> => {
    const scopes = Array.isArray(scope) ? scope.join(' ') : scope;
    const tenant = tenantId ?? config.tenantId;
    const key = `${tenant} ${scopes}`;
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.token;
    const res = await fetch(`${config.loginUrl.replace(/\/+$/, '')}/${tenant}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: config.appId,
        client_secret: config.appPassword,
        scope: scopes,
      }),
    });
    if (!res.ok)
      throw new UpstreamError(
        `Entra refused a token for the Teams bot (HTTP ${res.status}): ${(await res.text()).slice(0, 200)}`,
        { retryable: res.status >= 500 },
      );
    const body = tokenResponseSchema.parse(await res.json());
    cache.set(key, { token: body.access_token, until: Date.now() + body.expires_in * 1000 - TOKEN_MARGIN_MS });
    return body.access_token;
  };
}

/** Patchflow's logger behind the Teams SDK's ILogger. */
function teamsLogger(logger: Logger): ILogger {
  const text = (msg: unknown[]) =>
    msg.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m))).join(' ');
  const adapted: ILogger = {
    debug: (...msg: unknown[]) => logger.debug(text(msg)),
    info: (...msg: unknown[]) => logger.debug(text(msg)),
    warn: (...msg: unknown[]) => logger.warn(text(msg)),
    error: (...msg: unknown[]) => logger.error(text(msg)),
    trace: () => undefined,
    log: (level, ...msg: unknown[]) =>
      level === 'error' ? logger.error(text(msg)) : level === 'warn' ? logger.warn(text(msg)) : logger.debug(text(msg)),
    child: () => adapted,
  };
  return adapted;
}

/**
 * The Teams SDK app: inbound token validation against the Bot Framework's keys, outbound tokens
 * from Entra, proactive sends to `serviceUrl`. The server passes an adapter that mounts the
 * messaging endpoint on its own Express app; the worker only sends, so it passes none.
 */
export function createTeamsApp(config: TeamsConfig, logger: Logger, httpServerAdapter?: IHttpServerAdapter): App {
  return new App({
    clientId: config.appId,
    tenantId: config.tenantId,
    token: clientCredentialsToken(config),
    serviceUrl: config.serviceUrl,
    cloud: teamsCloud(config),
    logger: teamsLogger(logger),
    messagingEndpoint: TEAMS_MESSAGES_PATH,
    activity: { mentions: { stripText: true } },
    ...(config.applicationIdUri ? { applicationIdUri: config.applicationIdUri } : {}),
    ...(httpServerAdapter ? { httpServerAdapter } : {}),
  });
}
