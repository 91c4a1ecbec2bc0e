import { z } from 'zod';
import { principalOf, can } from '../authentication.ts';
import { parseInput } from '../../kernel/validate.ts';
import {
  inventoryConnectorIds,
  inventoryStatus,
  requestInventorySync,
  type InventorySyncReport,
} from '../../app/inventory-sync.ts';
import type { RouteModule } from './types.ts';

const syncBody = z
  .strictObject({
    connector: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'a connector id such as wsus')
      .optional(),
  })
  .prefault({});

/**
 * Inventory connectors: each with its last sync and schedule; sync one or all. A sync runs on a
 * worker as the inventorySync workflow; the request waits for its report.
 */
export const inventoryRoutes: RouteModule = {
  path: '/inventory',
  register(router, ctx) {
    router.get('/', can(ctx, 'inventory.read'), async (_req, res) => {
      res.json({ connectors: await inventoryStatus(ctx) });
    });

    router.post('/sync', can(ctx, 'inventory.import'), async (req, res) => {
      const { connector } = parseInput(syncBody, req.body ?? {}, 'inventory sync');
      const actor = principalOf(res).userId;
      if (connector) {
        res.json(await requestInventorySync(ctx, connector, actor));
        return;
      }
      // Side by side, each its own workflow; one server down must not stop the others.
      const results: (InventorySyncReport | { connector: string; error: string })[] = await Promise.all(
        inventoryConnectorIds(ctx.registry).map((id) =>
          requestInventorySync(ctx, id, actor).catch((err: unknown) => {
            ctx.logger.warn('inventory sync failed', { connector: id, err: (err as Error).message });
            return { connector: id, error: (err as Error).message };
          }),
        ),
      );
      res.json({ results });
    });
  },
};
