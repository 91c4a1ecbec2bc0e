import express, { type Express, type Router } from 'express';
import type { AppContext } from '../app/context.ts';
import { OidcAuthority, RefusalAuditor } from '../security/index.ts';
import { authenticated, sessionRouter } from './authentication.ts';
import { chatRouter } from './chat.ts';
import { errorMiddleware } from './errors.ts';
import { routeModules } from './routes/index.ts';
import { webRouter } from './web.ts';

/**
 * The private listener: the API, the dashboard, sign-in, and the chat endpoints too. `chat` is
 * shared with the public listener when there is one, so that each chat connector starts once.
 */
export function createHttpApp(ctx: AppContext, chat: Router = chatRouter(ctx)): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', async (_req, res) => {
    const checks = await Promise.allSettled([ctx.db.raw('select 1'), ctx.temporal.workflowService.getSystemInfo({})]);
    const [db, temporal] = checks.map((c) =>
      c.status === 'fulfilled' ? 'ok' : `down: ${(c.reason as Error).message}`,
    );
    const ok = db === 'ok' && temporal === 'ok';
    res.status(ok ? 200 : 503).json({ ok, db, temporal });
  });
  const auditor = new RefusalAuditor(ctx.db);
  const oidc = ctx.settings.oidc ? new OidcAuthority(ctx.settings.oidc) : undefined;
  const api = express.Router();
  // No /api request is served without a credential, loopback included.
  api.use(authenticated(ctx, auditor, oidc));
  api.use(express.json({ limit: '1mb' }));
  for (const mod of routeModules) {
    const router = express.Router();
    mod.register(router, ctx);
    api.use(mod.path, router);
  }
  app.use('/api', api);
  app.use(sessionRouter(ctx, auditor, oidc));
  app.use(chat);
  app.use(webRouter());
  app.use(errorMiddleware(ctx.logger));
  return app;
}

/**
 * The public listener: only what Slack and Microsoft Teams must reach from the internet
 * (`/slack/*`, `/teams/*`), each request checked by its connector's own signature or token
 * verification. Everything else, the API included, answers 404 here.
 */
export function createPublicApp(ctx: AppContext, chat: Router): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(chat);
  app.use((req, res) => {
    res.status(404).json({
      error: {
        code: 'not_found',
        message: `${req.method} ${req.path} is not served on the public listener: it serves only /slack/* and /teams/*`,
        details: [],
      },
    });
  });
  app.use(errorMiddleware(ctx.logger));
  return app;
}
