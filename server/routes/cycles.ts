import { can, principalOf } from '../authentication.ts';
import {
  approveCycle,
  cycleStatus,
  listCycleSummaries,
  rejectCycle,
  startCycle,
  withdrawCycle,
} from '../../app/cycles.ts';
import { planCycle } from '../../app/plan.ts';
import type { RouteModule } from './types.ts';

export const cycleRoutes: RouteModule = {
  path: '/cycles',
  // Starting, planning and deciding are authorized by the use cases themselves, which chat shares.
  register(router, ctx) {
    router.get('/', can(ctx, 'cycle.read'), async (_req, res) => {
      res.json({ cycles: await listCycleSummaries(ctx) });
    });
    router.post('/', async (req, res) => {
      res.status(201).json(await startCycle(ctx, principalOf(res), req.body));
    });
    router.post('/plan', async (req, res) => {
      res.json(await planCycle(ctx, principalOf(res), req.body));
    });
    router.get('/:id', can(ctx, 'cycle.read'), async (req, res) => {
      res.json(await cycleStatus(ctx, req.params.id));
    });
    router.post('/:id/approve', async (req, res) => {
      res.json(await approveCycle(ctx, principalOf(res), req.params.id, req.body));
    });
    router.post('/:id/reject', async (req, res) => {
      res.json(await rejectCycle(ctx, principalOf(res), req.params.id, req.body));
    });
    router.post('/:id/withdraw', async (req, res) => {
      res.json(await withdrawCycle(ctx, principalOf(res), req.params.id, req.body));
    });
  },
};
