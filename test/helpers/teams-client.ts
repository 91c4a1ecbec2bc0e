import { randomBytes } from 'node:crypto';
import invokeTemplate from '../fixtures/chat/teams/teams_docs_card_invoke_inbound.repaired.json' with { type: 'json' };
import messageTemplate from '../fixtures/chat/teams/teams_docs_full_inbound_message.json' with { type: 'json' };
import type { BotConnectorEmulator } from '../emulators/bot-connector.ts';

export interface TeamsUser {
  aadObjectId: string;
  name: string;
}

/**
 * Plays Teams: message and Action.Execute invoke activities shaped like the captured ones in
 * test/fixtures/chat/teams, sent to the bot's messaging endpoint with a Bot Framework token
 * signed by the emulator's keys, exactly as the Bot Connector delivers them.
 */
export class TeamsSender {
  constructor(
    private readonly url: string,
    private readonly connector: BotConnectorEmulator,
    private readonly bot: { appId: string; tenantId: string; channelId: string },
  ) {}

  async post(
    activity: Record<string, unknown>,
    token: string | null = this.connector.botToken(),
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(activity),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  private envelope(
    template: Record<string, unknown>,
    user: TeamsUser,
    conversationId = this.bot.channelId,
  ): Record<string, unknown> {
    return {
      ...template,
      id: `f:${randomBytes(8).toString('hex')}`,
      timestamp: new Date().toISOString(),
      serviceUrl: this.connector.url,
      from: { id: `29:${user.aadObjectId}`, name: user.name, aadObjectId: user.aadObjectId },
      recipient: { id: `28:${this.bot.appId}`, name: 'Patchflow' },
      conversation: {
        conversationType: conversationId === this.bot.channelId ? 'channel' : 'personal',
        tenantId: this.bot.tenantId,
        id: conversationId,
      },
      channelData: {
        tenant: { id: this.bot.tenantId },
        ...(conversationId === this.bot.channelId ? { channel: { id: this.bot.channelId } } : {}),
      },
    };
  }

  /** `@Patchflow <text>` in the approvals channel, or `<text>` in a personal chat with the bot. */
  message(user: TeamsUser, text: string, conversationId = this.bot.channelId) {
    if (conversationId !== this.bot.channelId)
      return this.post({ ...this.envelope(messageTemplate, user, conversationId), text });
    return this.post({
      ...this.envelope(messageTemplate, user),
      text: `<at>Patchflow</at> ${text}`,
      entities: [
        { type: 'mention', text: '<at>Patchflow</at>', mentioned: { id: `28:${this.bot.appId}`, name: 'Patchflow' } },
      ],
    });
  }

  /** An Action.Execute on a card: Teams sends `adaptiveCard/action` with the button's verb and data (inputs merged in). */
  invoke(user: TeamsUser, verb: string, data: Record<string, unknown>) {
    return this.post({
      ...this.envelope(invokeTemplate, user),
      name: 'adaptiveCard/action',
      value: { action: { type: 'Action.Execute', verb, data }, trigger: 'manual' },
    });
  }
}
