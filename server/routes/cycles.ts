import { approveCycle, cycleStatus, listCycleSummaries, rejectCycle, startCycle } from '../../app/cycles.ts';
import { planCycle } from '../../app/plan.ts';
import type { RouteModule } from './types.ts';

export const cycleRoutes: RouteModule = {
  path: '/cycles',
  register(router, ctx) {
    router.get('/', async (_req, res) => {
      res.json({ cycles: await listCycleSummaries(ctx) });
    });
    router.post('/', async (req, res) => {
      res.status(201).json(await startCycle(ctx, req.body));
    });
    router.post('/plan', async (req, res) => {
      res.json(await planCycle(ctx, req.body));
    });
    router.get('/:id', async (req, res) => {
      res.json(await cycleStatus(ctx, req.params.id));
    });
    router.post('/:id/approve', async (req, res) => {
      res.json(await approveCycle(ctx, req.params.id, req.body));
    });
    router.post('/:id/reject', async (req, res) => {
      res.json(await rejectCycle(ctx, req.params.id, req.body));
    });
  },
};
