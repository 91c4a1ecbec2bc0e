import express, { type Express } from 'express';
import type { AppContext } from '../app/context.ts';
import { OidcAuthority, RefusalAuditor } from '../security/index.ts';
import { authenticated, sessionRouter } from './authentication.ts';
import { chatRouter } from './chat.ts';
import { errorMiddleware } from './errors.ts';
import { routeModules } from './routes/index.ts';
import { webRouter } from './web.ts';

export function createHttpApp(ctx: AppContext): Express {
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
  app.use(chatRouter(ctx));
  app.use(webRouter());
  app.use(errorMiddleware(ctx.logger));
  return app;
}
