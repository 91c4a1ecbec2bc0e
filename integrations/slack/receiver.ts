import { createHmac, timingSafeEqual } from 'node:crypto';
import { App, ExpressReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import express, { type RequestHandler } from 'express';
import type { ChatActions } from '../contract/chat.ts';
import type { HttpHandler } from '../contract/index.ts';
import { routerHandler } from '../kit/express.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { SlackConfig } from './config.ts';
import { registerListeners } from './listeners.ts';

/** One request URL for slash commands, interactivity and events, as the app manifest declares it. */
export const SLACK_EVENTS_PATH = '/slack/events';
/** Slack signs every request; one older than this is refused as a possible replay. */
const MAX_SIGNATURE_AGE_SECONDS = 5 * 60;

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
 * them; the listeners (listeners.ts) ack at once, then ask Patchflow (and through it Temporal) to act.
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
  registerListeners(app, actions, config);
  app.error(async (err) => {
    logger.error('slack listener failed', { err: err.message });
  });
  return routerHandler(router);
}
