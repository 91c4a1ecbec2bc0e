import { can, principalOf } from '../authentication.ts';
import { z } from 'zod';
import {
  deleteGroup,
  getGroup,
  groupInputSchema,
  groupNameSchema,
  listGroups,
  saveGroup,
} from '../../db/repositories/asset-groups.ts';
import { parseAssetQuery } from '../../db/repositories/asset-query.ts';
import { listAssets } from '../../db/repositories/assets.ts';
import { appendAudit } from '../../db/repositories/audit.ts';
import { parseInput } from '../../kernel/validate.ts';
import type { RouteModule } from './types.ts';

const nameParamSchema = z.object({ name: groupNameSchema });

/** Saved dynamic groups of assets; members are evaluated from the group's query on every read. */
export const groupRoutes: RouteModule = {
  path: '/groups',
  register(router, ctx) {
    router.get('/', can(ctx, 'inventory.read'), async (_req, res) => {
      res.json({ groups: await listGroups(ctx.db) });
    });

    router.get('/:name', can(ctx, 'inventory.read'), async (req, res) => {
      const { name } = parseInput(nameParamSchema, req.params, 'group name');
      const group = await getGroup(ctx.db, name);
      res.json({ ...group, assets: await listAssets(ctx.db, { query: parseAssetQuery(group.query) }) });
    });

    router.put('/:name', can(ctx, 'groups.write'), async (req, res) => {
      const { name } = parseInput(nameParamSchema, req.params, 'group name');
      const input = parseInput(groupInputSchema, req.body, 'group');
      const group = await ctx.db.transaction(async (trx) => {
        const g = await saveGroup(trx, name, input);
        await appendAudit(trx, {
          actor: principalOf(res).userId,
          action: 'group.saved',
          subjectType: 'group',
          subjectId: name,
          data: { query: input.query },
        });
        return g;
      });
      res.json(group);
    });

    router.delete('/:name', can(ctx, 'groups.write'), async (req, res) => {
      const { name } = parseInput(nameParamSchema, req.params, 'group name');
      await ctx.db.transaction(async (trx) => {
        await deleteGroup(trx, name);
        await appendAudit(trx, {
          actor: principalOf(res).userId,
          action: 'group.deleted',
          subjectType: 'group',
          subjectId: name,
        });
      });
      res.status(204).end();
    });
  },
};
