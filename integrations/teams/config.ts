import { z } from 'zod';
import { secret } from '../contract/connector.ts';

export const teamsConfigSchema = z.object({
  /** The bot's Microsoft App ID: the Entra app registration's Application (client) ID. */
  appId: z.uuid('the Entra application (client) id'),
  /** A client secret of that app registration; used to obtain tokens for the Bot Connector API. */
  appPassword: secret(),
  /** The Entra tenant the app is registered in (single-tenant bots). */
  tenantId: z.uuid('the Entra tenant id'),
  /** Conversation id of the channel where approval cards are posted (19:…@thread.tacv2). */
  channelId: z.string().min(1),
  /** Bot Connector base URL for proactive posts; Teams gives the tenant's region in every activity's serviceUrl. */
  serviceUrl: z.url().default('https://smba.trafficmanager.net/teams/'),
  /** Entra sign-in endpoint: tokens for the bot, keys for the tab's SSO tokens. Changed only to point at an emulator. */
  loginUrl: z.url().default('https://login.microsoftonline.com'),
  /** Where the Bot Framework publishes the keys it signs inbound requests with. Changed only to point at an emulator. */
  botOpenIdMetadataUrl: z.url().default('https://login.botframework.com/v1/.well-known/openidconfiguration'),
  /** The tab's SSO resource (api://<host>/<appId>), as in the manifest's webApplicationInfo.resource. */
  applicationIdUri: z.string().min(1).optional(),
  /** Extra origins allowed to host the tab, besides Teams' own (teams-js trusts only those by default). */
  tabValidOrigins: z
    .preprocess(
      (v) =>
        typeof v === 'string'
          ? v
              .split(',')
              .map((o) => o.trim())
              .filter(Boolean)
          : v,
      z.array(z.url()),
    )
    .default([]),
});
export type TeamsConfig = z.infer<typeof teamsConfigSchema>;
