import { defineConnector } from '../contract/connector.ts';
import { UpstreamError } from '../../kernel/errors.ts';
import { cardBlocks, cardText, noticeText } from './blocks.ts';
import { createSlackClient } from './client.ts';
import { slackConfigSchema, type SlackConfig } from './config.ts';
import { slackHandler } from './receiver.ts';
import { z } from 'zod';

const messageRefSchema = z.object({ channel: z.string(), ts: z.string() });

/** Slack: approval cards, live progress and reminders in a channel; `/patch`, buttons, modals and the App Home tab. */
export const slackConnector = defineConnector({
  id: 'slack',
  title: 'Slack (Bolt)',
  configSchema: slackConfigSchema,
  capabilities: { notifier: true, approvals: true },
  env: { prefix: 'SLACK', requires: 'botToken' },
  create(config: SlackConfig, deps) {
    const client = createSlackClient(config);
    const posted = (res: { ok?: boolean; channel?: string; ts?: string; error?: string }) => {
      if (!res.ok || !res.channel || !res.ts)
        throw new UpstreamError(`Slack did not post the message: ${res.error ?? 'no channel/ts in the answer'}`);
      return { channel: res.channel, ts: res.ts };
    };
    return {
      notifier: {
        async postCard(card) {
          return posted(
            await client.chat.postMessage({ channel: config.channel, text: cardText(card), blocks: cardBlocks(card) }),
          );
        },
        async updateCard(ref, card) {
          const { channel, ts } = messageRefSchema.parse(ref);
          await client.chat.update({ channel, ts, text: cardText(card), blocks: cardBlocks(card) });
        },
        async postNotice(notice, ref) {
          const text = noticeText(notice);
          if (!ref) return void (await client.chat.postMessage({ channel: config.channel, text }));
          // In the card's thread, and broadcast to the channel so that the people named see it.
          const thread = messageRefSchema.parse(ref);
          await client.chat.postMessage({ channel: thread.channel, text, thread_ts: thread.ts, reply_broadcast: true });
        },
      },
      approvals: {
        handler: (actions) => slackHandler(actions, config, deps.logger),
      },
      async testConnection() {
        const res = await client.auth.test();
        return {
          ok: res.ok === true,
          message: res.ok
            ? `Slack workspace ${res.team ?? '?'} as ${res.user ?? '?'}; approvals in ${config.channel}`
            : `auth.test failed: ${res.error ?? 'unknown'}`,
        };
      },
    };
  },
});
