import { z } from 'zod';
import { defineConnector } from '../contract/connector.ts';
import { UpstreamError } from '../../kernel/errors.ts';
import { teamsHandler } from './bot.ts';
import { adaptiveCard, cardAttachment, noticeActivity } from './cards.ts';
import { createTeamsApp } from './client.ts';
import { teamsConfigSchema, type TeamsConfig } from './config.ts';

const messageRefSchema = z.object({ conversationId: z.string().min(1), activityId: z.string().min(1) });

/** Microsoft Teams: approval cards with Universal Actions posted to a channel, bot commands, and a tab. */
export const teamsConnector = defineConnector({
  id: 'teams',
  title: 'Microsoft Teams (Teams SDK)',
  configSchema: teamsConfigSchema,
  capabilities: { notifier: true, approvals: true },
  env: {
    prefix: 'TEAMS',
    requires: 'appId',
    names: { botOpenIdMetadataUrl: 'TEAMS_BOT_OPENID_METADATA_URL' },
  },
  create(config: TeamsConfig, deps) {
    const app = createTeamsApp(config, deps.logger);
    const message = (card: Parameters<typeof adaptiveCard>[0]) => ({
      type: 'message' as const,
      text: `${card.title}: ${card.status}`,
      attachments: [cardAttachment(adaptiveCard(card))],
    });
    return {
      notifier: {
        async postCard(card) {
          const sent = await app.send(config.channelId, message(card));
          if (!sent.id) throw new UpstreamError('the Bot Connector accepted the card but returned no activity id');
          return { conversationId: config.channelId, activityId: sent.id };
        },
        async updateCard(ref, card) {
          const { conversationId, activityId } = messageRefSchema.parse(ref);
          await app.api.conversations.updateActivity(conversationId, activityId, message(card));
        },
        async postNotice(notice, ref) {
          if (!ref) return void (await app.send(config.channelId, noticeActivity(notice)));
          const { conversationId, activityId } = messageRefSchema.parse(ref);
          await app.reply(conversationId, activityId, noticeActivity(notice));
        },
      },
      approvals: {
        handler: (actions) => teamsHandler(actions, config, deps.logger),
      },
      async testConnection() {
        try {
          await app.api.conversations.getMembers(config.channelId);
          return { ok: true, message: `Teams bot ${config.appId} reaches channel ${config.channelId}` };
        } catch (err) {
          return {
            ok: false,
            message: `Teams bot ${config.appId} cannot reach channel ${config.channelId}: ${(err as Error).message}`,
          };
        }
      },
    };
  },
});
