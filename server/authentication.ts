import express, { type RequestHandler, type Response, type Router } from 'express';
import type { AppContext } from '../app/context.ts';
import { NotAllowedError, UnauthenticatedError } from '../kernel/errors.ts';
import { authenticate, authorize, RefusalAuditor, type Action, type Principal } from '../security/index.ts';

/** The dashboard's session: the API token it signed in with, in an HttpOnly cookie scripts cannot read. */
export const SESSION_COOKIE = 'patchflow_session';
const SAFE_METHODS = new Set(['GET', 'HEAD']);

function sessionCookie(header: string | undefined): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/**
 * Resolves every request's principal before any route runs: a bearer token, or the dashboard's
 * session cookie for reads only. Writes need the bearer token, which a cross-site page cannot send
 * (so a cookie can never be borrowed to act: that is the CSRF defence). Refused credentials are audited.
 */
export function authenticated(ctx: AppContext, auditor: RefusalAuditor): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization;
    const bearer = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
    const cookie = bearer ? undefined : sessionCookie(req.headers.cookie);
    try {
      if (cookie && !SAFE_METHODS.has(req.method))
        throw new NotAllowedError(
          'a dashboard session may only read; writes need Authorization: Bearer <token>, which other sites cannot send for you',
        );
      res.locals['principal'] = await authenticate(ctx.db, bearer ?? cookie);
      next();
    } catch (err) {
      if (err instanceof UnauthenticatedError)
        await auditor.refused(req.ip ?? 'unknown', err.message, { method: req.method, path: req.originalUrl });
      next(err);
    }
  };
}

/** The principal `authenticated` resolved for this request. */
export function principalOf(res: Response): Principal {
  const principal = res.locals['principal'] as Principal | undefined;
  if (!principal) throw new UnauthenticatedError('no principal on this request');
  return principal;
}

/** Route middleware: the request's principal must be allowed `action` (see security/authorize.ts). */
// Typed for any route's parameters, so that the route's own handler keeps the parameters its path declares.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function can(ctx: AppContext, action: Action): RequestHandler<any> {
  return async (_req, res, next) => {
    try {
      await authorize(ctx.db, principalOf(res), action);
      next();
    } catch (err) {
      next(err);
    }
  };
}

/**
 * The dashboard's sign-in: POST /auth/session with an API token sets the session cookie
 * (HttpOnly, SameSite=Strict, Secure behind HTTPS); POST /auth/logout clears it.
 */
export function sessionRouter(ctx: AppContext, auditor: RefusalAuditor): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });
  router.post('/auth/session', form, async (req, res) => {
    const token = typeof req.body?.token === 'string' ? req.body.token.trim() : '';
    try {
      await authenticate(ctx.db, token || undefined);
    } catch (err) {
      if (!(err instanceof UnauthenticatedError)) throw err;
      await auditor.refused(req.ip ?? 'unknown', err.message, { path: '/auth/session' });
      res.redirect(303, `/login?error=${encodeURIComponent(err.message)}`);
      return;
    }
    res.cookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
    res.redirect(303, '/');
  });
  router.post('/auth/logout', (req, res) => {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
    res.redirect(303, '/login');
  });
  return router;
}
