import { can } from '../authentication.ts';
import { z } from 'zod';
import type { Capabilities, RoleName } from '../../integrations/contract/connector.ts';
import { connectorEnvVariables } from '../../integrations/contract/env.ts';
import type { RouteModule } from './types.ts';

/** GET /api/connectors: the configured connectors, what they can do, and their config with secrets redacted. */
export const connectorListSchema = z.object({
  connectors: z.array(
    z.object({ id: z.string(), title: z.string(), capabilities: z.array(z.string()), config: z.unknown() }),
  ),
});

/** POST /api/connectors/:id/test: whether the connector reaches its system with its credentials. */
export const connectionTestSchema = z.object({ id: z.string(), ok: z.boolean(), message: z.string() });

/**
 * GET /api/connectors/available: every connector Patchflow ships, configured or not, with the
 * settings it takes as JSON Schema (secrets carry `secret: true`) and the environment variables
 * that set them, by setting path.
 */
export const connectorCatalogSchema = z.object({
  connectors: z.array(
    z.object({
      id: z.string(),
      title: z.string(),
      capabilities: z.array(z.string()),
      configSchema: z.object({ required: z.array(z.string()).optional() }).loose(),
      env: z.object({ prefix: z.string(), variables: z.record(z.string(), z.string()) }).nullable(),
    }),
  ),
});

function roles(capabilities: Capabilities): RoleName[] {
  return (Object.keys(capabilities) as RoleName[]).filter((r) => capabilities[r]);
}

export const connectorRoutes: RouteModule = {
  path: '/connectors',
  register(router, ctx) {
    router.get('/', can(ctx, 'connectors.read'), (_req, res) => {
      const body: z.input<typeof connectorListSchema> = {
        connectors: ctx.registry.list().map((c) => ({
          id: c.definition.id,
          title: c.definition.title,
          capabilities: roles(c.definition.capabilities),
          config: c.redactedConfig,
        })),
      };
      res.json(body);
    });
    router.get('/available', can(ctx, 'connectors.read'), (_req, res) => {
      const body: z.input<typeof connectorCatalogSchema> = {
        connectors: [...ctx.registry.definitions.values()].map((def) => ({
          id: def.id,
          title: def.title,
          capabilities: roles(def.capabilities),
          // The input side: what a person writes, so settings with a default are not required.
          configSchema: z.toJSONSchema(def.configSchema, { io: 'input' }),
          env: def.env ? { prefix: def.env.prefix, variables: connectorEnvVariables(def) } : null,
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
