import { can } from '../authentication.ts';
import { seedDemoIntake } from '../../app/demo-intake.ts';
import { ensureDemoFleet } from '../../demo/seed.ts';
import type { RouteModule } from './types.ts';

/** Seeds the demo fleet, people, patch and intake (scan, KEV, EPSS); idempotent. */
export const demoRoutes: RouteModule = {
  path: '/demo',
  register(router, ctx) {
    router.post('/seed', can(ctx, 'demo.seed'), async (_req, res) => {
      ensureDemoFleet(ctx.settings.dataDir);
      res.json(await seedDemoIntake(ctx.db, ctx.registry));
    });
  },
};
