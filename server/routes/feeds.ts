import { can } from '../authentication.ts';
import path from 'node:path';
import express from 'express';
import { z } from 'zod';
import { getFeedState } from '../../db/repositories/feed-state.ts';
import { parseInput } from '../../kernel/validate.ts';
import { feedKinds, importFeedFile, syncFeed, type FeedRunResult, type SyncEnv } from '../../app/feeds.ts';
import type { AppContext } from '../../app/context.ts';
import type { RouteModule } from './types.ts';

const kindParams = z.object({ kind: z.string().regex(/^[a-z0-9-]+$/, 'a feed id such as kev') });

// The full NVD history or an MSRC year runs to hundreds of megabytes; one file is one request.
const maxImportBytes = '512mb';

function syncEnv(ctx: AppContext): SyncEnv {
  return {
    db: ctx.db,
    registry: ctx.registry,
    deps: { logger: ctx.logger, workDir: path.join(ctx.settings.dataDir, 'feeds') },
  };
}

/** Advisory feeds: list with their sync state, sync one or all, import a downloaded file. */
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
        })),
      );
      res.json({ feeds });
    });

    router.post('/sync', can(ctx, 'feeds.sync'), async (_req, res) => {
      const results: (FeedRunResult | { feed: string; error: string })[] = [];
      // One feed failing (NVD rate limit, a portal outage) must not stop the others.
      for (const kind of feedKinds(ctx.registry)) {
        try {
          results.push(await syncFeed(syncEnv(ctx), kind));
        } catch (err) {
          ctx.logger.warn('feed sync failed', { feed: kind, err: (err as Error).message });
          results.push({ feed: kind, error: (err as Error).message });
        }
      }
      res.json({ results });
    });

    router.post('/:kind/sync', can(ctx, 'feeds.sync'), async (req, res) => {
      const { kind } = parseInput(kindParams, req.params, 'feed');
      res.json(await syncFeed(syncEnv(ctx), kind));
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
