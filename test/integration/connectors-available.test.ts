import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../../app/context.ts';
import { upsertUser } from '../../db/repositories/users.ts';
import { connectorEnvVariables } from '../../integrations/contract/env.ts';
import { connectorDefinitions, createConnectorRegistry } from '../../integrations/registry.ts';
import { createLogger } from '../../kernel/logger.ts';
import { authenticated } from '../../server/authentication.ts';
import { errorMiddleware } from '../../server/errors.ts';
import { connectorCatalogSchema, connectorRoutes } from '../../server/routes/connectors.ts';
import { RefusalAuditor, ensureLocalTokens } from '../../security/index.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

type JsonSchema = { properties?: Record<string, JsonSchema>; [key: string]: unknown };

/** Every property of a JSON Schema, at any depth, by its dotted path. */
function properties(schema: JsonSchema, prefix = ''): [string, JsonSchema][] {
  return Object.entries(schema.properties ?? {}).flatMap(([key, sub]) => [
    [`${prefix}${key}`, sub] as [string, JsonSchema],
    ...properties(sub, `${prefix}${key}.`),
  ]);
}

describe('the connectors Patchflow ships: REST and CLI', () => {
  let server: Server;
  let base: string;
  let t: TestDatabase;
  let dataDir: string;
  let viewerToken: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), 'patchflow-available-'));
    await upsertUser(t.db, { id: 'vera', roles: ['viewer'] });
    viewerToken = (await ensureLocalTokens(t.db, dataDir, [{ id: 'vera' }]))['vera']!;
    // Nothing is configured: the catalogue is every registered connector all the same.
    const ctx = { registry: createConnectorRegistry(), db: t.db, logger: createLogger({}, 'error') } as Pick<
      AppContext,
      'registry' | 'db' | 'logger'
    > as AppContext;
    const app = express();
    const router = express.Router();
    router.use(authenticated(ctx, new RefusalAuditor(t.db)));
    connectorRoutes.register(router, ctx);
    app.use('/api/connectors', router);
    app.use(errorMiddleware(ctx.logger));
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await t.drop();
  });

  const available = async (token: string | undefined) =>
    fetch(`${base}/api/connectors/available`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  it('needs a credential', async () => {
    expect((await available(undefined)).status).toBe(401);
  });

  it('lists every registered connector with its roles, and a viewer may read it', async () => {
    const res = await available(viewerToken);
    expect(res.status).toBe(200);
    const { connectors } = connectorCatalogSchema.parse(await res.json());
    expect(connectors.map((c) => [c.id, c.title, c.capabilities])).toEqual(
      connectorDefinitions.map((d) => [d.id, d.title, Object.keys(d.capabilities)]),
    );
    expect(connectors.find((c) => c.id === 'wsus')!.capabilities).toEqual(['deployer', 'inventory']);
    for (const def of connectorDefinitions) {
      const shown = connectors.find((c) => c.id === def.id)!;
      expect(shown.env, def.id).toEqual(
        def.env ? { prefix: def.env.prefix, variables: connectorEnvVariables(def) } : null,
      );
    }
    expect(connectors.find((c) => c.id === 'jira-sm')!.env!.variables).toMatchObject({
      apiToken: 'JIRA_SM_API_TOKEN',
      'transitions.implement': 'JIRA_SM_TRANSITION_IMPLEMENT',
    });
  });

  it('gives each config schema as JSON Schema, with secrets marked and never a default for one', async () => {
    const { connectors } = connectorCatalogSchema.parse(await (await available(viewerToken)).json());
    const wsus = connectors.find((c) => c.id === 'wsus')!.configSchema as JsonSchema;
    expect(wsus).toMatchObject({
      type: 'object',
      required: ['endpoint', 'username', 'password'],
      properties: {
        password: { type: 'string', secret: true },
        username: { type: 'string' },
        groupTemplate: { default: 'Patchflow {ring}' },
      },
    });
    expect(wsus.properties!['username']).not.toHaveProperty('secret');
    const secrets = connectors.flatMap((c) =>
      properties(c.configSchema as JsonSchema)
        .filter(([, p]) => p['secret'] === true)
        .map(([key, p]) => [`${c.id}.${key}`, p] as const),
    );
    // Guards the check below: the catalogue does carry secrets of several connectors, nested ones too.
    expect(secrets.map(([key]) => key)).toEqual(
      expect.arrayContaining(['wsus.password', 'slack.botToken', 'servicenow.oauthToken', 'jira-sm.apiToken']),
    );
    for (const [key, p] of secrets) expect(p, key).not.toHaveProperty('default');
  });

  it('patchflow connectors available prints a table, and everything with --json', async () => {
    const env = { PATH: process.env['PATH'], PATCHFLOW_URL: base, PATCHFLOW_TOKEN: viewerToken };
    const human = await runCli(env, ['connectors', 'available']);
    expect(human).toMatchObject({ status: 0, stderr: '' });
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^id\s+roles\s+env prefix\s+required settings$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/)[0])).toEqual(connectorDefinitions.map((d) => d.id));
    expect(lines).toContainEqual(
      expect.stringMatching(/^wsus\s+deployer, inventory\s+—\s+endpoint, username, password$/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(/^slack\s+notifier, approvals\s+SLACK_\s+botToken, signingSecret, channel$/),
    );

    const json = await runCli(env, ['connectors', 'available', '--json']);
    expect(json.status).toBe(0);
    const listed = connectorCatalogSchema.shape.connectors.parse(JSON.parse(json.stdout));
    expect(listed.map((c) => c.id)).toEqual(connectorDefinitions.map((d) => d.id));
    expect(listed.find((c) => c.id === 'slack')!.configSchema).toMatchObject({
      properties: { signingSecret: { secret: true } },
    });

    const refused = await runCli({ ...env, PATCHFLOW_TOKEN: 'pf_not-a-token' }, ['connectors', 'available']);
    expect(refused.status).not.toBe(0);
    expect(refused.stdout).toBe('');
  });
});
