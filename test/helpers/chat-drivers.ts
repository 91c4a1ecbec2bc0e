import { setTimeout as sleep } from 'node:timers/promises';
import { BotConnectorEmulator } from '../emulators/bot-connector.ts';
import { SlackApiEmulator, type SlackCall } from '../emulators/slack.ts';
import { SlackSender } from './slack-client.ts';
import type { TestStack } from './stack.ts';
import { TeamsSender } from './teams-client.ts';

/** A Patchflow user as the scenarios know them, with a handle in each chat. */
export interface Person {
  id: string;
  displayName: string;
  slackUserId: string;
  teamsAadId: string;
}

/**
 * What a person can do in a chat, the same for Slack and Teams, so that one scenario table runs
 * against both: type a command, press Approve, reject with a reason, and watch the channel's
 * card and notices. Everything goes through the emulators as the real platforms would send it.
 */
export interface ChatDriver {
  readonly name: 'slack' | 'teams';
  /** Starts the platform's emulator; returns the environment that configures Patchflow for it. */
  start(): Promise<Record<string, string>>;
  connect(stack: TestStack): void;
  command(who: Person, text: string): Promise<string>;
  /** Resolves with the refusal the person was shown, or null when the decision was taken. */
  approve(who: Person, cycleId: string): Promise<string | null>;
  reject(who: Person, cycleId: string, reason: string): Promise<string | null>;
  /** Waits for the cycle's card in the approvals channel (posted or updated) to satisfy `match`; returns its content. */
  card(cycleId: string, match: (content: string) => boolean, timeoutMs?: number): Promise<string>;
  /** The platform stops answering Patchflow until the returned function is called. */
  hang(): () => void;
  /** Patchflow's requests the hung platform has not answered yet. */
  readonly heldRequests: number;
  /** Waits for a reminder or escalation posted next to the card. */
  notice(match: (text: string) => boolean, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

const CHANNEL = { slack: 'C0APPROVAL', teams: '19:patch-approvals@thread.tacv2' };
const TEAMS_APP = {
  appId: '9a3c2b1e-5f4d-4c6b-8a7e-1d2f3a4b5c6d',
  appPassword: 'teams-app-secret-for-tests',
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
};
const SLACK = { botToken: 'xoxb-test-0000-patchflow', signingSecret: 'slack-signing-secret-for-tests' };

async function poll<T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export class SlackDriver implements ChatDriver {
  readonly name = 'slack' as const;
  private emulator!: SlackApiEmulator;
  private sender!: SlackSender;

  async start() {
    this.emulator = await new SlackApiEmulator({ botToken: SLACK.botToken }).start();
    return {
      SLACK_BOT_TOKEN: SLACK.botToken,
      SLACK_SIGNING_SECRET: SLACK.signingSecret,
      SLACK_CHANNEL: CHANNEL.slack,
      SLACK_API_URL: this.emulator.apiUrl,
    };
  }

  connect(stack: TestStack) {
    this.sender = new SlackSender(`${stack.url}/slack/events`, SLACK.signingSecret, this.emulator);
  }

  async command(who: Person, text: string) {
    return String((await this.sender.command(who.slackUserId, text)).reply['text']);
  }

  async approve(who: Person, cycleId: string) {
    const since = this.emulator.calls.length;
    await this.sender.click(who.slackUserId, 'patchflow_approve', cycleId);
    return this.decided(who, since, `${who.displayName} approved via slack`);
  }

  async reject(who: Person, cycleId: string, reason: string) {
    const since = this.emulator.calls.length;
    await this.sender.click(who.slackUserId, 'patchflow_reject', cycleId);
    const modal = await this.emulator.waitFor(
      'views.open',
      (a) => (a['view'] as { callback_id?: string }).callback_id === 'patchflow_reject_reason',
      { since },
    );
    await this.sender.submitView(who.slackUserId, modal.args['view'] as Record<string, unknown>, {
      reason: { reason_input: reason },
    });
    return this.decided(who, since, `${who.displayName} rejected via slack`);
  }

  /** The answer to a click: an ephemeral refusal for that person, or the card showing their decision. */
  private decided(who: Person, since: number, shown: string): Promise<string | null> {
    return poll(
      () => {
        // A refusal to a click comes back on the click's response_url; one to a submitted form, ephemerally.
        const refusal = this.emulator.calls
          .slice(since)
          .find(
            (c) =>
              (c.method === 'response' && c.args['response_type'] === 'ephemeral') ||
              (c.method === 'chat.postEphemeral' && c.args['user'] === who.slackUserId),
          );
        if (refusal) return String(refusal.args['text']);
        return this.emulator.calls
          .slice(since)
          .some((c) => c.method === 'chat.update' && JSON.stringify(c.args['blocks']).includes(shown))
          ? null
          : undefined;
      },
      `${who.id}'s decision in Slack`,
      20_000,
    );
  }

  card(cycleId: string, match: (content: string) => boolean, timeoutMs = 30_000) {
    const content = (c: SlackCall) => JSON.stringify(c.args['blocks'] ?? '');
    const isCard = (c: SlackCall) =>
      (c.method === 'chat.postMessage' || c.method === 'chat.update') &&
      c.args['channel'] === CHANNEL.slack &&
      !c.args['thread_ts'] &&
      content(c).includes(cycleId);
    return poll(
      () => this.emulator.calls.filter(isCard).map(content).reverse().find(match),
      `the Slack card of ${cycleId}`,
      timeoutMs,
    );
  }

  notice(match: (text: string) => boolean, timeoutMs = 30_000) {
    return poll(
      () =>
        this.emulator.calls
          .filter((c) => c.method === 'chat.postMessage' && c.args['thread_ts'])
          .map((c) => String(c.args['text']))
          .find(match),
      'a Slack notice',
      timeoutMs,
    );
  }

  hang() {
    return this.emulator.hang();
  }

  get heldRequests() {
    return this.emulator.heldRequests;
  }

  close() {
    return this.emulator.close();
  }
}

export class TeamsDriver implements ChatDriver {
  readonly name = 'teams' as const;
  private emulator!: BotConnectorEmulator;
  private sender!: TeamsSender;

  async start() {
    this.emulator = await new BotConnectorEmulator(TEAMS_APP).start();
    return {
      TEAMS_APP_ID: TEAMS_APP.appId,
      TEAMS_APP_PASSWORD: TEAMS_APP.appPassword,
      TEAMS_TENANT_ID: TEAMS_APP.tenantId,
      TEAMS_CHANNEL_ID: CHANNEL.teams,
      TEAMS_SERVICE_URL: this.emulator.url,
      TEAMS_LOGIN_URL: this.emulator.url,
      TEAMS_BOT_OPENID_METADATA_URL: this.emulator.openIdMetadataUrl,
    };
  }

  connect(stack: TestStack) {
    this.sender = new TeamsSender(`${stack.url}/teams/messages`, this.emulator, {
      ...TEAMS_APP,
      channelId: CHANNEL.teams,
    });
  }

  private user(who: Person) {
    return { aadObjectId: who.teamsAadId, name: who.displayName };
  }

  /** Coordinators talk to the bot in a personal chat, so that its answers are told apart from the channel's cards. */
  async command(who: Person, text: string) {
    const conversation = `a:personal-${who.id}`;
    const since = this.emulator.sent.length;
    await this.sender.message(this.user(who), text, conversation);
    const reply = await this.emulator.waitFor(
      (s) => s.conversationId === conversation && s.activity['type'] === 'message',
      { since },
    );
    return String(reply.activity['text']);
  }

  /** Universal Actions answer with the card for the clicker; a refusal is its first, red line. */
  private async decide(who: Person, verb: string, data: Record<string, unknown>): Promise<string | null> {
    const res = await this.sender.invoke(this.user(who), verb, data);
    const body = (res.body['value'] as { body?: { text?: string; color?: string }[] } | undefined)?.body ?? [];
    return body[0]?.color === 'Attention' ? String(body[0].text) : null;
  }

  approve(who: Person, cycleId: string) {
    return this.decide(who, 'approve', { cycleId });
  }

  reject(who: Person, cycleId: string, reason: string) {
    return this.decide(who, 'reject', { cycleId, reason });
  }

  card(cycleId: string, match: (content: string) => boolean, timeoutMs = 30_000) {
    const content = (a: Record<string, unknown>) => JSON.stringify(a['attachments'] ?? '');
    return poll(
      () =>
        this.emulator.sent
          .filter(
            (s) =>
              s.conversationId === CHANNEL.teams &&
              (s.kind === 'send' || s.kind === 'update') &&
              content(s.activity).includes(cycleId),
          )
          .map((s) => content(s.activity))
          .reverse()
          .find(match),
      `the Teams card of ${cycleId}`,
      timeoutMs,
    );
  }

  notice(match: (text: string) => boolean, timeoutMs = 30_000) {
    return poll(
      () =>
        this.emulator.sent
          .filter((s) => s.conversationId.startsWith(`${CHANNEL.teams};messageid=`))
          .map((s) => String(s.activity['text']))
          .find(match),
      'a Teams notice',
      timeoutMs,
    );
  }

  hang() {
    return this.emulator.hang();
  }

  get heldRequests() {
    return this.emulator.heldRequests;
  }

  close() {
    return this.emulator.close();
  }
}
