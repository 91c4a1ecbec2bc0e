import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { HttpRouteHandler, IHttpServerAdapter } from '@microsoft/teams.apps';
import express, { type Router } from 'express';
import { z } from 'zod';
import { isReply, type ChatActions, type ChatActor, type ChatReply } from '../contract/chat.ts';
import type { HttpHandler } from '../contract/index.ts';
import { routerHandler } from '../kit/express.ts';
import { cycleIdSchema } from '../kit/chat/commands.ts';
import type { Logger } from '../../kernel/logger.ts';
import { REASON_INPUT, adaptiveCard, cardAttachment, teamsVerbs } from './cards.ts';
import { createTeamsApp } from './client.ts';
import type { TeamsConfig } from './config.ts';

/** The tab page, its script, and teams-js as the package ships it for browsers. */
export const TEAMS_TAB_PATH = '/teams/tab';
const webDir = fileURLToPath(new URL('../../web/', import.meta.url));
const teamsJsBundle = createRequire(import.meta.url).resolve('@microsoft/teams-js');
/** Teams shows at most a few cards per message comfortably; the rest are one `approvals` away. */
const REPLY_CARDS = 5;

const fromSchema = z.object({ id: z.string().min(1), aadObjectId: z.string().optional() });
const messageSchema = z.object({ from: fromSchema, text: z.string().default('') });
const cardActionSchema = z.object({
  from: fromSchema,
  value: z.object({
    action: z.object({
      type: z.literal('Action.Execute'),
      verb: z.enum([teamsVerbs.approve, teamsVerbs.reject, teamsVerbs.details, teamsVerbs.refresh]),
      data: z.object({ cycleId: cycleIdSchema, [REASON_INPUT]: z.string().max(2000).optional() }),
    }),
  }),
});

/** Teams names the sender's tenant in channelData (and, for most activities, in the conversation too). */
const tenantSchema = z.object({
  channelData: z.object({ tenant: z.object({ id: z.string() }).optional() }).optional(),
  conversation: z.object({ tenantId: z.string().optional() }).optional(),
});
function tenantOf(activity: unknown): string | undefined {
  const parsed = tenantSchema.safeParse(activity);
  return parsed.success
    ? (parsed.data.channelData?.tenant?.id ?? parsed.data.conversation?.tenantId)?.toLowerCase()
    : undefined;
}

/** Teams identifies people by their Entra object id; a sender without one cannot be mapped and is refused as unknown. */
const actorOf = (from: z.infer<typeof fromSchema>): ChatActor => ({
  chat: 'teams',
  externalId: from.aadObjectId ?? from.id,
});

/**
 * Mounts the Teams SDK's messaging endpoint on the server's router. Its token validation answers
 * 401 to anything not signed by the Bot Framework for this app; those answers are audited here.
 */
class RouterAdapter implements IHttpServerAdapter {
  constructor(
    private readonly router: Router,
    private readonly onUnauthenticated: (detail: Record<string, string>) => Promise<void>,
  ) {}

  registerRoute(_method: 'POST', path: string, handler: HttpRouteHandler): void {
    this.router.post(path, express.json({ limit: '1mb' }), async (req, res, next) => {
      try {
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter((e): e is [string, string | string[]] => e[1] !== undefined),
        );
        const response = await handler({ body: req.body as unknown, headers });
        if (response.status === 401)
          await this.onUnauthenticated({
            path,
            reason: JSON.stringify(response.body ?? {}),
            activity: String((req.body as { type?: unknown } | undefined)?.type ?? ''),
          });
        if (response.body === undefined) res.status(response.status).end();
        else res.status(response.status).json(response.body);
      } catch (err) {
        next(err);
      }
    });
  }
}

export async function teamsHandler(actions: ChatActions, config: TeamsConfig, logger: Logger): Promise<HttpHandler> {
  const router = express.Router();
  const app = createTeamsApp(
    config,
    logger,
    new RouterAdapter(router, (detail) => actions.unauthenticated('teams', detail)),
  );

  /**
   * The Bot Framework's token proves the activity came through Teams for this bot, not from which
   * organisation: a bot installed in another tenant would be let in. Those activities are refused.
   */
  const foreignTenant = async (activity: unknown): Promise<string | undefined> => {
    const tenant = tenantOf(activity);
    if (tenant === config.tenantId.toLowerCase()) return undefined;
    await actions.unauthenticated('teams', {
      reason: `activity from tenant ${tenant ?? '(none named)'}, not the configured tenant ${config.tenantId}`,
      activity: String((activity as { type?: unknown }).type ?? ''),
    });
    return `This Patchflow serves only its own organisation (tenant ${config.tenantId}).`;
  };

  app.on('message', async ({ activity, send }) => {
    const refused = await foreignTenant(activity);
    if (refused) {
      await send({ type: 'message', text: refused });
      return;
    }
    // Acknowledge at once; the answer follows when Patchflow (and Temporal) have acted.
    await send({ type: 'typing' });
    const message = messageSchema.parse(activity);
    const reply = await actions.command(actorOf(message.from), message.text);
    await send({
      type: 'message',
      text: reply.text,
      attachments: reply.cards.slice(0, REPLY_CARDS).map((c) => cardAttachment(adaptiveCard(c))),
    });
  });

  app.on('card.action', async ({ activity }) => {
    const refused = await foreignTenant(activity);
    if (refused) return { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: refused };
    const invoke = cardActionSchema.parse(activity);
    const actor = actorOf(invoke.from);
    const { verb, data } = invoke.value.action;
    let notice: ChatReply | undefined;
    if (verb === teamsVerbs.approve) notice = await actions.approve(actor, data.cycleId);
    if (verb === teamsVerbs.reject)
      notice = await actions.reject(actor, data.cycleId, data[REASON_INPUT]?.trim() ?? '');
    // Universal Actions answer with the card as this person should now see it.
    const card = await actions.card(actor, data.cycleId);
    if (isReply(card)) return { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: card.text };
    return {
      statusCode: 200,
      type: 'application/vnd.microsoft.card.adaptive',
      value: adaptiveCard(card, { ...(notice ? { notice } : {}), details: verb === teamsVerbs.details }),
    };
  });

  router.get(`${TEAMS_TAB_PATH}/data`, async (req, res, next) => {
    try {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const claims = token ? await app.entraTokenValidator?.validateAccessToken(token) : null;
      // Entra signs for every tenant with the same keys: the tenant is checked here, not by the signature.
      const oid =
        claims && claims['tid'] === config.tenantId && typeof claims['oid'] === 'string' ? claims['oid'] : undefined;
      if (!oid) {
        await actions.unauthenticated('teams', {
          path: req.path,
          reason: token ? 'invalid tab SSO token' : 'no tab SSO token',
        });
        res
          .status(401)
          .json({ error: { code: 'unauthenticated', message: 'a valid Teams SSO token is required', details: [] } });
        return;
      }
      const overview = await actions.overview({ chat: 'teams', externalId: oid });
      res.json(isReply(overview) ? { refused: overview.text, pending: [], running: [] } : overview);
    } catch (err) {
      next(err);
    }
  });
  router.get(`${TEAMS_TAB_PATH}/config`, (_req, res) => {
    res.json({ validOrigins: config.tabValidOrigins });
  });
  router.get(`${TEAMS_TAB_PATH}/vendor/teams-js.js`, (_req, res) => res.sendFile(teamsJsBundle));
  router.use(TEAMS_TAB_PATH, express.static(webDir, { index: 'teams-tab.html' }));

  await app.initialize();
  return routerHandler(router);
}
