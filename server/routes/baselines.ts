import { can } from '../authentication.ts';
import { z } from 'zod';
import { baselinePatches, getBaseline, listBaselines, saveBaseline } from '../../db/repositories/baselines.ts';
import { NotFoundError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { baselineSchema, evaluateBaseline } from '../../prioritization/baselines.ts';
import type { RouteModule } from './types.ts';

const idParams = z.object({ id: baselineSchema.shape.id });

/** Patch baselines: per-platform auto-approval rules, and what they decide for the patches we know. */
export const baselineRoutes: RouteModule = {
  path: '/baselines',
  register(router, ctx) {
    router.get('/', can(ctx, 'baselines.read'), async (_req, res) => {
      res.json({ baselines: await listBaselines(ctx.db) });
    });
    router.put('/:id', can(ctx, 'baselines.write'), async (req, res) => {
      const { id } = parseInput(idParams, req.params, 'baseline');
      const body: unknown = req.body;
      const baseline = parseInput(
        baselineSchema,
        { ...(body && typeof body === 'object' ? body : {}), id },
        'baseline',
      );
      await saveBaseline(ctx.db, baseline);
      res.json(baseline);
    });
    router.get('/:id/evaluate', can(ctx, 'baselines.read'), async (req, res) => {
      const { id } = parseInput(idParams, req.params, 'baseline');
      const baseline = await getBaseline(ctx.db, id);
      if (!baseline) throw new NotFoundError(`no baseline "${id}"`);
      const now = new Date();
      const patches = await baselinePatches(ctx.db, { platform: baseline.platform });
      res.json({
        baseline: id,
        results: patches.map((p) => ({ patchId: p.id, ...evaluateBaseline(p, baseline, now) })),
      });
    });
  },
};
