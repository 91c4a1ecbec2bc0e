import { z } from 'zod';
import { parseInput } from '../../kernel/validate.ts';
import { authorize, createToken, findToken, listTokens, revokeToken } from '../../security/index.ts';
import { can, principalOf } from '../authentication.ts';
import type { RouteModule } from './types.ts';

const listQuerySchema = z.object({ user: z.string().min(1).optional(), all: z.enum(['true', 'false']).optional() });

/**
 * API tokens: anyone signed in manages their own (at most their roles' scopes); an admin makes
 * service tokens for other users and lists or revokes anyone's. A token is shown once, on creation.
 */
export const tokenRoutes: RouteModule = {
  path: '/tokens',
  register(router, ctx) {
    router.get('/', can(ctx, 'tokens.self'), async (req, res) => {
      const principal = principalOf(res);
      const q = parseInput(listQuerySchema, req.query, 'token list query');
      const userId = q.all === 'true' ? undefined : (q.user ?? principal.userId);
      if (userId !== principal.userId)
        await authorize(ctx.db, principal, 'tokens.admin', { type: 'user', id: userId ?? '*' });
      res.json({ tokens: await listTokens(ctx.db, userId) });
    });
    router.post('/', can(ctx, 'tokens.self'), async (req, res) => {
      const principal = principalOf(res);
      const userId = (req.body as { userId?: unknown } | undefined)?.userId;
      if (typeof userId === 'string' && userId !== principal.userId)
        await authorize(ctx.db, principal, 'tokens.admin', { type: 'user', id: userId });
      res.status(201).json(await createToken(ctx.db, principal, req.body));
    });
    router.delete('/:id', can(ctx, 'tokens.self'), async (req, res) => {
      const principal = principalOf(res);
      const token = await findToken(ctx.db, req.params.id);
      if (token.userId !== principal.userId)
        await authorize(ctx.db, principal, 'tokens.admin', { type: 'user', id: token.userId });
      res.json(await revokeToken(ctx.db, principal, token.id));
    });
  },
};

/** GET /api/whoami: the principal this credential stands for. */
export const whoamiRoutes: RouteModule = {
  path: '/whoami',
  register(router) {
    router.get('/', (_req, res) => {
      res.json(principalOf(res));
    });
  },
};
