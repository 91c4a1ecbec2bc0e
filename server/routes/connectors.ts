import { can } from '../authentication.ts';
import { z } from 'zod';
import type { RoleName } from '../../integrations/contract/connector.ts';
import type { RouteModule } from './types.ts';

/** GET /api/connectors: the configured connectors, what they can do, and their config with secrets redacted. */
export const connectorListSchema = z.object({
  connectors: z.array(
    z.object({ id: z.string(), title: z.string(), capabilities: z.array(z.string()), config: z.unknown() }),
  ),
});

/** POST /api/connectors/:id/test: whether the connector reaches its system with its credentials. */
export const connectionTestSchema = z.object({ id: z.string(), ok: z.boolean(), message: z.string() });

export const connectorRoutes: RouteModule = {
  path: '/connectors',
  register(router, ctx) {
    router.get('/', can(ctx, 'connectors.read'), (_req, res) => {
      const body: z.input<typeof connectorListSchema> = {
        connectors: ctx.registry.list().map((c) => ({
          id: c.definition.id,
          title: c.definition.title,
          capabilities: (Object.keys(c.definition.capabilities) as RoleName[]).filter(
            (r) => c.definition.capabilities[r],
          ),
          config: c.redactedConfig,
        })),
      };
      res.json(body);
    });
    router.post('/:id/test', can(ctx, 'connectors.test'), async (req, res) => {
      const connector = ctx.registry.get(req.params.id);
      let body: z.input<typeof connectionTestSchema>;
      try {
        body = { id: connector.definition.id, ...(await connector.instance.testConnection()) };
      } catch (err) {
        // A connector should answer ok: false rather than throw; a throw still only means "not reachable".
        ctx.logger.warn('connection test threw', { connector: connector.definition.id, err: (err as Error).message });
        body = { id: connector.definition.id, ok: false, message: (err as Error).message };
      }
      res.json(body);
    });
  },
};
