import express, { type Router } from 'express';
import { createChatActions } from '../app/chat-actions.ts';
import type { AppContext } from '../app/context.ts';

/** Where chat connectors receive requests; nothing else is held back while they start. */
const CHAT_PATHS = ['/slack', '/teams'];

/**
 * The inbound side of every configured chat connector (Slack events, the Teams bot and tab),
 * mounted on the server's own Express app. Without chat credentials nothing is mounted.
 */
export function chatRouter(ctx: AppContext): Router {
  const router = express.Router();
  const channels = ctx.registry.list().filter((c) => c.definition.capabilities.approvals);
  if (channels.length === 0) return router;
  const actions = createChatActions(ctx);
  const mounted = express.Router();
  const ready = Promise.all(channels.map((c) => ctx.registry.role(c.definition.id, 'approvals').handler(actions))).then(
    (handlers) => {
      for (const handler of handlers) mounted.use(handler);
    },
  );
  ready.catch((err: unknown) => ctx.logger.error('a chat connector failed to start', { err: (err as Error).message }));
  // A request that arrives while a connector is still starting waits for it instead of finding no route.
  router.use(CHAT_PATHS, (_req, _res, next) => {
    ready.then(() => next(), next);
  });
  router.use(mounted);
  return router;
}
