import { createHmac, timingSafeEqual } from 'node:crypto';
import { App, ExpressReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import express, { type RequestHandler } from 'express';
import { z } from 'zod';
import { isReply, type ChatActions, type ChatActor, type ChatReply } from '../contract/chat.ts';
import type { HttpHandler } from '../contract/index.ts';
import { routerHandler } from '../kit/express.ts';
import type { Logger } from '../../kernel/logger.ts';
import { cycleIdSchema } from '../kit/chat/commands.ts';
import { detailsModal, homeView, rejectModal, replyMessage, slackIds } from './blocks.ts';
import type { SlackConfig } from './config.ts';

/** One request URL for slash commands, interactivity and events, as the app manifest declares it. */
export const SLACK_EVENTS_PATH = '/slack/events';
/** Slack signs every request; one older than this is refused as a possible replay. */
const MAX_SIGNATURE_AGE_SECONDS = 5 * 60;

const commandSchema = z.object({ user_id: z.string().min(1), text: z.string().default('') });
const blockActionSchema = z.object({
  user: z.object({ id: z.string().min(1) }),
  trigger_id: z.string().min(1),
  container: z.object({ type: z.string(), channel_id: z.string().optional() }),
  actions: z.array(z.object({ action_id: z.string(), value: cycleIdSchema })).min(1),
});
const viewSubmissionSchema = z.object({
  user: z.object({ id: z.string().min(1) }),
  view: z.object({
    private_metadata: z.string().transform((s, ctx) => {
      const parsed = z.object({ cycleId: cycleIdSchema, channel: z.string().nullable() }).safeParse(JSON.parse(s));
      if (!parsed.success) ctx.addIssue({ code: 'custom', message: 'not a Patchflow reject view' });
      return parsed.data ?? { cycleId: '', channel: null };
    }),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }))) }),
  }),
});
const homeOpenedSchema = z.object({ user: z.string().min(1), tab: z.string().default('home') });

/** Why a request is not from Slack, or undefined when its signature is good and fresh. */
export function slackSignatureProblem(
  signingSecret: string,
  rawBody: string,
  headers: Record<string, string | string[] | undefined>,
  nowSeconds = Math.floor(Date.now() / 1000),
): string | undefined {
  const signature = headers['x-slack-signature'];
  const timestamp = headers['x-slack-request-timestamp'];
  if (typeof signature !== 'string' || typeof timestamp !== 'string') return 'missing signature headers';
  if (!/^\d+$/.test(timestamp)) return 'malformed timestamp';
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SIGNATURE_AGE_SECONDS)
    return 'stale: signed more than 5 minutes ago';
  const expected = Buffer.from(
    `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`,
  );
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'signature mismatch';
  return undefined;
}

/** Patchflow's logger behind Bolt's Logger interface. */
function boltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.WARN;
  const text = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : String(m))).join(' ');
  return {
    debug: (...msg: unknown[]) => level === LogLevel.DEBUG && logger.debug(text(msg)),
    info: (...msg: unknown[]) => (level === LogLevel.DEBUG || level === LogLevel.INFO) && logger.info(text(msg)),
    warn: (...msg: unknown[]) => logger.warn(text(msg)),
    error: (...msg: unknown[]) => logger.error(text(msg)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/**
 * Slack's inbound side: Bolt on an ExpressReceiver whose routes live on the server's own Express
 * app. A verification step in front of Bolt refuses forged and stale requests with 401 and audits
 * them; listeners ack at once, then ask Patchflow (and through it Temporal) to act.
 */
export async function slackHandler(actions: ChatActions, config: SlackConfig, logger: Logger): Promise<HttpHandler> {
  const router = express.Router();
  const verify: RequestHandler = async (req, res, next) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // Bolt verifies again and parses from this very buffer.
    Object.assign(req, { rawBody: raw });
    const problem = slackSignatureProblem(config.signingSecret, raw.toString('utf8'), req.headers);
    if (!problem) return next();
    await actions.unauthenticated('slack', {
      reason: problem,
      path: req.path,
      timestamp: String(req.headers['x-slack-request-timestamp'] ?? ''),
    });
    res.status(401).end();
  };
  router.post(SLACK_EVENTS_PATH, express.raw({ type: () => true, limit: '1mb' }), verify);

  const receiver = new ExpressReceiver({
    signingSecret: config.signingSecret,
    router,
    endpoints: SLACK_EVENTS_PATH,
    logger: boltLogger(logger),
  });
  const app = new App({
    receiver,
    token: config.botToken,
    clientOptions: { slackApiUrl: config.apiUrl },
    logger: boltLogger(logger),
  });
  const actor = (externalId: string): ChatActor => ({ chat: 'slack', externalId });

  const publishHome = async (userId: string, notice?: ChatReply) => {
    const overview = await actions.overview(actor(userId));
    const view = isReply(overview) ? homeView({ pending: [], running: [] }) : homeView(overview);
    if (isReply(overview) || notice)
      view.blocks.unshift({
        type: 'section',
        text: { type: 'mrkdwn', text: isReply(overview) ? overview.text : notice!.text },
      });
    await app.client.views.publish({ user_id: userId, view });
  };
  /** A refusal or confirmation for one person: in place of the home tab, or ephemeral where they clicked. */
  const tell = async (userId: string, where: { type: string; channel_id?: string | undefined }, reply: ChatReply) => {
    if (where.type === 'view') return publishHome(userId, reply);
    await app.client.chat.postEphemeral({
      channel: where.channel_id ?? config.channel,
      user: userId,
      text: replyMessage(reply).text,
      blocks: replyMessage(reply).blocks,
    });
  };

  app.command(config.command, async ({ ack, body, respond }) => {
    await ack();
    const cmd = commandSchema.parse(body);
    await respond(replyMessage(await actions.command(actor(cmd.user_id), cmd.text)));
  });

  app.action(slackIds.approve, async ({ ack, body }) => {
    await ack();
    const click = blockActionSchema.parse(body);
    const reply = await actions.approve(actor(click.user.id), click.actions[0]!.value);
    // Success shows on the card itself, which the gate refreshes in place; a refusal is told to the clicker.
    if (!reply.ok || click.container.type === 'view') await tell(click.user.id, click.container, reply);
  });

  app.action(slackIds.reject, async ({ ack, body, client }) => {
    await ack();
    const click = blockActionSchema.parse(body);
    const card = await actions.card(actor(click.user.id), click.actions[0]!.value);
    if (isReply(card)) return tell(click.user.id, click.container, card);
    await client.views.open({ trigger_id: click.trigger_id, view: rejectModal(card, click.container.channel_id) });
  });

  app.action(slackIds.details, async ({ ack, body, client }) => {
    await ack();
    const click = blockActionSchema.parse(body);
    const card = await actions.card(actor(click.user.id), click.actions[0]!.value);
    if (isReply(card)) return tell(click.user.id, click.container, card);
    await client.views.open({ trigger_id: click.trigger_id, view: detailsModal(card) });
  });

  app.view(slackIds.rejectView, async ({ ack, body }) => {
    await ack();
    const submission = viewSubmissionSchema.parse(body);
    const { cycleId, channel } = submission.view.private_metadata;
    const reason = submission.view.state.values[slackIds.reasonBlock]?.[slackIds.reasonInput]?.value?.trim() ?? '';
    const reply = await actions.reject(actor(submission.user.id), cycleId, reason);
    if (!reply.ok || channel === null)
      await tell(submission.user.id, channel ? { type: 'message', channel_id: channel } : { type: 'view' }, reply);
  });

  app.event('app_home_opened', async ({ event }) => {
    const opened = homeOpenedSchema.parse(event);
    if (opened.tab === 'home') await publishHome(opened.user);
  });

  app.error(async (err) => {
    logger.error('slack listener failed', { err: err.message });
  });
  return routerHandler(router);
}
