import { can } from '../authentication.ts';
import { z } from 'zod';
import { parseInput } from '../../kernel/validate.ts';
import { loadPrioritizationPolicy, policyPresets } from '../../prioritization/policy.ts';
import { prioritizeAssetPatches, prioritizeFindings } from '../../prioritization/query.ts';
import type { RouteModule } from './types.ts';

const querySchema = z.object({
  view: z.enum(['all', 'overdue', 'due-soon']).default('all'),
  limit: z.coerce.number().int().min(1).max(10_000).default(50),
  /** `finding` ranks findings; `asset-patch` ranks which patch to install where. */
  by: z.enum(['finding', 'asset-patch']).default('finding'),
  /** A preset instead of the configured policy, e.g. to compare against BOD 26-04 deadlines. */
  policy: z.enum(Object.keys(policyPresets) as [keyof typeof policyPresets]).optional(),
});

/** GET /api/findings/prioritized: open findings by risk, with SSVC decision, SLA deadline and a one-line reason. */
export const prioritizedFindingRoutes: RouteModule = {
  path: '/findings/prioritized',
  register(router, ctx) {
    // Read once at start-up, so that a bad policy file stops the server with the offending field named.
    const configured = loadPrioritizationPolicy();
    router.get('/', can(ctx, 'findings.read'), async (req, res) => {
      const q = parseInput(querySchema, req.query, 'prioritized findings query');
      const policy = q.policy ? policyPresets[q.policy] : configured;
      const opts = { view: q.view, limit: q.limit };
      if (q.by === 'asset-patch')
        res.json({ view: q.view, by: q.by, items: await prioritizeAssetPatches(ctx.db, policy, opts) });
      else res.json({ view: q.view, by: q.by, items: await prioritizeFindings(ctx.db, policy, opts) });
    });
  },
};
