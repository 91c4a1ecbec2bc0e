import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import blockActionsTemplate from '../fixtures/chat/slack/BlockActionsBody.decoded.json' with { type: 'json' };
import type { SlackApiEmulator } from '../emulators/slack.ts';

const fixture = (name: string) => new URL(`../fixtures/chat/slack/${name}`, import.meta.url);
const slashTemplate = new URLSearchParams(readFileSync(fixture('SlashCommandBody.txt'), 'utf8').replace(/^\uFEFF/, ''));

export function slackSignature(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

/**
 * Plays Slack: real-shaped slash commands, button clicks, view submissions and events (built
 * from captured payloads in test/fixtures/chat/slack), signed with the app's signing secret and
 * POSTed to Patchflow's request URL, exactly as Slack delivers them.
 */
export class SlackSender {
  private interaction = 0;

  constructor(
    private readonly url: string,
    private readonly signingSecret: string,
    private readonly emulator: SlackApiEmulator,
    private readonly workspace = { teamId: 'T0PATCH01', channelId: 'C0APPROVAL' },
  ) {}

  async post(
    body: string,
    opts: { contentType?: string; timestamp?: number; signature?: string } = {},
  ): Promise<Response> {
    const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
    return fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': opts.contentType ?? 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': opts.signature ?? slackSignature(this.signingSecret, timestamp, body),
      },
      body,
    });
  }

  /** `/patch <text>` typed by `userId`; resolves with what Patchflow posted to the response_url. */
  async command(
    userId: string,
    text: string,
    command = '/patch',
  ): Promise<{ status: number; reply: Record<string, unknown> }> {
    const responseId = `cmd-${++this.interaction}`;
    const form = new URLSearchParams(slashTemplate);
    form.set('team_id', this.workspace.teamId);
    form.set('channel_id', this.workspace.channelId);
    form.set('channel_name', 'patch-approvals');
    form.set('user_id', userId);
    form.set('user_name', userId.toLowerCase());
    form.set('command', command);
    form.set('text', text);
    form.set('response_url', this.emulator.responseUrl(responseId));
    form.set('trigger_id', `trigger-${responseId}`);
    const res = await this.post(form.toString());
    if (res.status !== 200) return { status: res.status, reply: {} };
    const reply = await this.emulator.waitFor('response', (a) => a['responseId'] === responseId);
    return { status: res.status, reply: reply.args };
  }

  /** A click on a button of the message `messageTs`; `actionId` and `value` as the card's blocks carry them. */
  async click(
    userId: string,
    actionId: string,
    value: string,
    where: { messageTs?: string; view?: boolean; ephemeral?: boolean } = {},
  ): Promise<Response> {
    const id = ++this.interaction;
    const container = where.view
      ? { type: 'view', view_id: 'VHOME' }
      : {
          type: 'message',
          message_ts: where.messageTs ?? '1700000000.000001',
          channel_id: this.workspace.channelId,
          is_ephemeral: where.ephemeral ?? false,
        };
    const payload = {
      ...blockActionsTemplate,
      user: {
        ...blockActionsTemplate.user,
        id: userId,
        username: userId.toLowerCase(),
        name: userId.toLowerCase(),
        team_id: this.workspace.teamId,
      },
      team: { id: this.workspace.teamId, domain: 'patchflow-test' },
      container,
      channel: { id: this.workspace.channelId, name: 'patch-approvals' },
      trigger_id: `trigger-${id}`,
      response_url: this.emulator.responseUrl(`click-${id}`),
      state: { values: {} },
      actions: [
        {
          type: 'button',
          action_id: actionId,
          block_id: `cycle:${value}`,
          value,
          text: { type: 'plain_text', text: actionId, emoji: true },
          action_ts: `${Date.now() / 1000}`,
        },
      ],
    };
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
  }

  /** Submits a modal that Patchflow opened (the view as recorded by views.open) with `values` typed in. */
  async submitView(
    userId: string,
    view: Record<string, unknown>,
    values: Record<string, Record<string, string>>,
  ): Promise<Response> {
    const state = {
      values: Object.fromEntries(
        Object.entries(values).map(([block, inputs]) => [
          block,
          Object.fromEntries(
            Object.entries(inputs).map(([action, value]) => [action, { type: 'plain_text_input', value }]),
          ),
        ]),
      ),
    };
    const payload = {
      type: 'view_submission',
      team: { id: this.workspace.teamId, domain: 'patchflow-test' },
      user: { id: userId, username: userId.toLowerCase(), name: userId.toLowerCase(), team_id: this.workspace.teamId },
      api_app_id: blockActionsTemplate.api_app_id,
      token: blockActionsTemplate.token,
      trigger_id: `trigger-${++this.interaction}`,
      view: {
        ...view,
        id: 'VMODAL',
        team_id: this.workspace.teamId,
        state,
        hash: '1700000000.abcd',
        app_id: blockActionsTemplate.api_app_id,
      },
      response_urls: [],
    };
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
  }

  /** The event Slack sends when someone opens the app's Home tab. */
  async openHome(userId: string): Promise<Response> {
    const body = {
      token: blockActionsTemplate.token,
      team_id: this.workspace.teamId,
      api_app_id: blockActionsTemplate.api_app_id,
      event: {
        type: 'app_home_opened',
        user: userId,
        channel: 'D0HOME',
        tab: 'home',
        event_ts: `${Date.now() / 1000}`,
      },
      type: 'event_callback',
      event_id: `Ev${++this.interaction}`,
      event_time: Math.floor(Date.now() / 1000),
    };
    return this.post(JSON.stringify(body), { contentType: 'application/json' });
  }
}
