import { z } from 'zod';
import { secret } from '../contract/connector.ts';

export const slackConfigSchema = z.object({
  /** Bot User OAuth token (xoxb-…) from the app's OAuth & Permissions page. */
  botToken: secret().regex(/^xox[bp]-/, 'a bot token starting with xoxb-'),
  /** Signing secret from the app's Basic Information page; every inbound request is verified with it. */
  signingSecret: secret(),
  /** Channel id (C…/G…) where approval cards, progress and reminders are posted; invite the bot there. */
  channel: z.string().regex(/^[CG][A-Z0-9]+$/, 'a channel id such as C0123ABCD'),
  /** The slash command as named in the app manifest. */
  command: z
    .string()
    .regex(/^\/[a-z0-9_-]+$/, 'a slash command such as /patch')
    .default('/patch'),
  /** Web API base URL; only changed to point at an emulator. */
  apiUrl: z.url().default('https://slack.com/api/'),
});
export type SlackConfig = z.infer<typeof slackConfigSchema>;
