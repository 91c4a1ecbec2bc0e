import { can } from '../authentication.ts';
import { z } from 'zod';
import { listAudit, verifyAuditChain } from '../../db/repositories/audit.ts';
import { parseInput } from '../../kernel/validate.ts';
import type { RouteModule } from './types.ts';

const auditQuerySchema = z.object({
  subject: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});

export const auditRoutes: RouteModule = {
  path: '/audit',
  register(router, ctx) {
    router.get('/', can(ctx, 'audit.read'), async (req, res) => {
      const q = parseInput(auditQuerySchema, req.query, 'audit query');
      res.json({ events: await listAudit(ctx.db, { subjectId: q.subject, limit: q.limit }) });
    });
    router.get('/verify', can(ctx, 'audit.read'), async (_req, res) => {
      res.json(await verifyAuditChain(ctx.db));
    });
  },
};
