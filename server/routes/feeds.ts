import { can } from '../authentication.ts';
import express from 'express';
import { z } from 'zod';
import { getFeedState } from '../../db/repositories/feed-state.ts';
import { parseInput } from '../../kernel/validate.ts';
import { feedKinds, feedScheduleStatus, importFeedFile, requestFeedSync, type FeedRunResult } from '../../app/feeds.ts';
import type { RouteModule } from './types.ts';

const kindParams = z.object({ kind: z.string().regex(/^[a-z0-9-]+$/, 'a feed id such as kev') });

// The full NVD history or an MSRC year runs to hundreds of megabytes; one file is one request.
const maxImportBytes = '512mb';

/**
 * Advisory feeds: list with their sync state and schedule, sync one or all, import a downloaded
 * file. A sync runs on a worker as the feedSync workflow; the request waits for its result.
 */
export const feedRoutes: RouteModule = {
  path: '/feeds',
  register(router, ctx) {
    router.get('/', can(ctx, 'feeds.read'), async (_req, res) => {
      const feeds = await Promise.all(
        feedKinds(ctx.registry).map(async (kind) => ({
          kind,
          title: ctx.registry.definitions.get(kind)?.title,
          configured: ctx.registry.list().some((c) => c.definition.id === kind),
          state: await getFeedState(ctx.db, kind),
          schedule: (await feedScheduleStatus(ctx, kind)) ?? null,
        })),
      );
      res.json({ feeds });
    });

    router.post('/sync', can(ctx, 'feeds.sync'), async (_req, res) => {
      // The feeds sync side by side, each its own workflow; one failing (NVD rate limit, a portal
      // outage) must not stop the others.
      const results: (FeedRunResult | { feed: string; error: string })[] = await Promise.all(
        feedKinds(ctx.registry).map((kind) =>
          requestFeedSync(ctx, kind).catch((err: unknown) => {
            ctx.logger.warn('feed sync failed', { feed: kind, err: (err as Error).message });
            return { feed: kind, error: (err as Error).message };
          }),
        ),
      );
      res.json({ results });
    });

    router.post('/:kind/sync', can(ctx, 'feeds.sync'), async (req, res) => {
      const { kind } = parseInput(kindParams, req.params, 'feed');
      res.json(await requestFeedSync(ctx, kind));
    });

    router.post(
      '/:kind/import',
      can(ctx, 'feeds.sync'),
      express.raw({ type: () => true, limit: maxImportBytes }),
      async (req, res) => {
        const { kind } = parseInput(kindParams, req.params, 'feed');
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        res.json(await importFeedFile(ctx.db, ctx.registry, kind, body));
      },
    );
  },
};
