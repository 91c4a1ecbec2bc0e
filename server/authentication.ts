import { randomBytes } from 'node:crypto';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../app/context.ts';
import { NotAllowedError, UnauthenticatedError } from '../kernel/errors.ts';
import {
  authenticate,
  authorize,
  createToken,
  findToken,
  principalFromIdentity,
  principalFromToken,
  RefusalAuditor,
  revokeToken,
  tokenId,
  type Action,
  type OidcAuthority,
  type Principal,
} from '../security/index.ts';

/** The dashboard's session: the API token it signed in with, in an HttpOnly cookie scripts cannot read. */
export const SESSION_COOKIE = 'patchflow_session';
const SAFE_METHODS = new Set(['GET', 'HEAD']);

function readCookie(header: string | undefined, cookie: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [name, ...value] = part.trim().split('=');
    if (name === cookie) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/**
 * Resolves every request's principal before any route runs: a bearer token, or the dashboard's
 * session cookie for reads only. Writes need the bearer token, which a cross-site page cannot send
 * (so a cookie can never be borrowed to act: that is the CSRF defence). Refused credentials are audited.
 */
export function authenticated(ctx: AppContext, auditor: RefusalAuditor, oidc?: OidcAuthority): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization;
    const bearer = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
    const cookie = bearer ? undefined : readCookie(req.headers.cookie, SESSION_COOKIE);
    try {
      if (cookie && !SAFE_METHODS.has(req.method))
        throw new NotAllowedError(
          'a dashboard session may only read; writes need Authorization: Bearer <token>, which other sites cannot send for you',
        );
      res.locals['principal'] = await authenticate(ctx.db, bearer ?? cookie, oidc);
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

/** How long a dashboard session made by an OpenID sign-in lasts before the person signs in again. */
const SESSION_HOURS = 8;
/** The PKCE verifier, state and nonce between leaving for the provider and coming back. */
const OIDC_CHECKS_COOKIE = 'patchflow_oidc';
const oidcChecksSchema = z.object({ verifier: z.string(), state: z.string(), nonce: z.string() });

function cookieOptions(req: Request, ctx: AppContext) {
  const secure = req.secure || ctx.settings.http.publicUrl?.startsWith('https:') === true;
  return { httpOnly: true, sameSite: 'strict', secure, path: '/' } as const;
}

/** Where the provider sends the browser back; from the configured public URL, else from the request. */
function publicUrlOf(req: Request, ctx: AppContext): string {
  return ctx.settings.http.publicUrl ?? `${req.protocol}://${req.get('host')}`;
}

/**
 * The dashboard's sign-in and sign-out. POST /auth/session takes an API token; with an OpenID
 * provider configured, GET /auth/oidc/start and /auth/oidc/callback sign in with the authorization
 * code and PKCE, and the session is a Patchflow token of its own (8 h) that sign-out revokes.
 * Cookies are HttpOnly, SameSite=Strict and Secure behind HTTPS. GET /auth/config tells the
 * login page and `patchflow login` what the server offers.
 */
export function sessionRouter(ctx: AppContext, auditor: RefusalAuditor, oidc?: OidcAuthority): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });
  const refuse = async (req: Request, res: Response, err: unknown) => {
    if (!(err instanceof UnauthenticatedError || err instanceof NotAllowedError)) throw err;
    await auditor.refused(req.ip ?? 'unknown', err.message, { path: req.path });
    res.redirect(303, `/login?error=${encodeURIComponent(err.message)}`);
  };

  router.get('/auth/config', async (_req, res) => {
    res.json({ oidc: oidc ? { cli: await oidc.cliSettings() } : null });
  });

  router.post('/auth/session', form, async (req, res) => {
    const token = typeof req.body?.token === 'string' ? req.body.token.trim() : '';
    try {
      await authenticate(ctx.db, token || undefined);
    } catch (err) {
      await refuse(req, res, err);
      return;
    }
    res.cookie(SESSION_COOKIE, token, cookieOptions(req, ctx));
    res.redirect(303, '/');
  });

  if (oidc) {
    router.get('/auth/oidc/start', async (req, res) => {
      const { url, checks } = await oidc.beginSignIn(publicUrlOf(req, ctx));
      // Lax, not Strict: the browser must send it on the provider's top-level redirect back.
      res.cookie(OIDC_CHECKS_COOKIE, Buffer.from(JSON.stringify(checks)).toString('base64url'), {
        ...cookieOptions(req, ctx),
        sameSite: 'lax',
        path: '/auth/oidc',
        maxAge: 10 * 60_000,
      });
      res.redirect(302, url);
    });
    router.get('/auth/oidc/callback', async (req, res) => {
      res.clearCookie(OIDC_CHECKS_COOKIE, { ...cookieOptions(req, ctx), sameSite: 'lax', path: '/auth/oidc' });
      try {
        const saved = readCookie(req.headers.cookie, OIDC_CHECKS_COOKIE);
        const checks = oidcChecksSchema.safeParse(
          saved ? JSON.parse(Buffer.from(saved, 'base64url').toString('utf8')) : undefined,
        );
        if (!checks.success)
          throw new UnauthenticatedError('the sign-in took too long or began elsewhere; sign in again');
        const base = publicUrlOf(req, ctx);
        const identity = await oidc.completeSignIn(new URL(req.originalUrl, base), checks.data);
        const principal = await principalFromIdentity(ctx.db, identity);
        const { token } = await createToken(ctx.db, principal, {
          name: `dashboard session ${randomBytes(4).toString('hex')}`,
          scopes: principal.scopes,
          expiresAt: new Date(Date.now() + SESSION_HOURS * 3_600_000).toISOString(),
        });
        res.cookie(SESSION_COOKIE, token, cookieOptions(req, ctx));
        res.redirect(303, '/');
      } catch (err) {
        await refuse(req, res, err);
      }
    });
  }

  router.post('/auth/logout', async (req, res) => {
    const token = readCookie(req.headers.cookie, SESSION_COOKIE);
    // A session an OpenID sign-in made is revoked, so a copied cookie stops working too.
    const session = token ? await principalFromToken(ctx.db, token).catch(() => undefined) : undefined;
    const id = token ? tokenId(token) : undefined;
    if (session && id && (await findToken(ctx.db, id)).name.startsWith('dashboard session '))
      await revokeToken(ctx.db, session, id);
    res.clearCookie(SESSION_COOKIE, cookieOptions(req, ctx));
    res.redirect(303, '/login');
  });
  return router;
}
