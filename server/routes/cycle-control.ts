import { can, principalOf } from '../authentication.ts';
import { controlCycle } from '../../app/cycle-control.ts';
import type { RouteModule } from './types.ts';

export const cycleControlRoutes: RouteModule = {
  path: '/cycles',
  register(router, ctx) {
    for (const verb of ['pause', 'resume', 'cancel'] as const) {
      router.post(`/:id/${verb}`, can(ctx, `cycle.${verb}`), async (req, res) => {
        res.json(await controlCycle(ctx, principalOf(res), req.params.id, verb, req.body));
      });
    }
  },
};
