import { controlCycle } from '../../app/cycle-control.ts';
import type { RouteModule } from './types.ts';

export const cycleControlRoutes: RouteModule = {
  path: '/cycles',
  register(router, ctx) {
    for (const verb of ['pause', 'resume', 'cancel'] as const) {
      router.post(`/:id/${verb}`, async (req, res) => {
        res.json(await controlCycle(ctx, req.params.id, verb, req.body));
      });
    }
  },
};
