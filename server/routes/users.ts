import { can, principalOf } from '../authentication.ts';
import { deleteUser, listUsers, upsertUser, userInputSchema } from '../../db/repositories/users.ts';
import { appendAudit } from '../../db/repositories/audit.ts';
import { parseInput } from '../../kernel/validate.ts';
import type { RouteModule } from './types.ts';

export const userRoutes: RouteModule = {
  path: '/users',
  register(router, ctx) {
    router.get('/', can(ctx, 'users.read'), async (_req, res) => {
      res.json({ users: await listUsers(ctx.db) });
    });
    router.put('/:id', can(ctx, 'users.write'), async (req, res) => {
      const input = parseInput(userInputSchema, { ...(req.body as object), id: req.params.id }, 'user');
      const user = await ctx.db.transaction(async (trx) => {
        const u = await upsertUser(trx, input);
        await appendAudit(trx, {
          actor: principalOf(res).userId,
          action: 'user.saved',
          subjectType: 'user',
          subjectId: u.id,
          data: { roles: u.roles },
        });
        return u;
      });
      res.json(user);
    });
    router.delete('/:id', can(ctx, 'users.write'), async (req, res) => {
      await ctx.db.transaction(async (trx) => {
        await deleteUser(trx, req.params.id);
        await appendAudit(trx, {
          actor: principalOf(res).userId,
          action: 'user.deleted',
          subjectType: 'user',
          subjectId: req.params.id,
        });
      });
      res.status(204).end();
    });
  },
};
