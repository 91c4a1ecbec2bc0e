import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AppContext } from '../../app/context.ts';
import { connectorCommands } from '../../bin/commands/connectors.ts';
import { createLogger } from '../../kernel/logger.ts';
import { ConnectorRegistry } from '../../integrations/contract/registry.ts';
import { simulatorConnector } from '../../integrations/simulator/index.ts';
import { wsusConnector } from '../../integrations/wsus/index.ts';
import { errorMiddleware } from '../../server/errors.ts';
import { connectorRoutes } from '../../server/routes/connectors.ts';
import { WsusEmulator } from '../emulators/winrm-wsus.ts';
import { quietDeps } from '../helpers/connectors.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { authenticated } from '../../server/authentication.ts';
import { RefusalAuditor, ensureLocalTokens } from '../../security/index.ts';

describe('connectors REST API and CLI', () => {
  let wsus: WsusEmulator;
  let server: Server;
  let base: string;
  let t: TestDatabase;
  let dataDir: string;
  let headers: Record<string, string>;

  beforeAll(async () => {
    t = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), 'patchflow-connectors-'));
    const { admin } = await ensureLocalTokens(t.db, dataDir);
    headers = { authorization: `Bearer ${admin}` };
    wsus = await new WsusEmulator({ username: 'svc', password: 'right' }).start();
    // WSUS is configured with the wrong password, so that a failing test is shown too.
    const registry = new ConnectorRegistry([simulatorConnector, wsusConnector]).configure(
      {
        simulator: { seed: 3 },
        wsus: { endpoint: wsus.winrm.url, username: 'svc', password: 'wrong', requestTimeout: '5s' },
      },
      quietDeps,
    );
    // The routes use only the registry and the logger; the rest of the context is not needed here.
    const ctx = { registry, db: t.db, logger: createLogger({}, 'error') } as Pick<
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
    await wsus.close();
    await t.drop();
  });

  it('GET /api/connectors needs a credential', async () => {
    expect((await fetch(`${base}/api/connectors`)).status).toBe(401);
  });

  it('GET /api/connectors lists configured connectors with capabilities and redacted secrets', async () => {
    const res = await fetch(`${base}/api/connectors`, { headers });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      connectors: { id: string; capabilities: string[]; config: Record<string, unknown> }[];
    };
    expect(body.connectors.map((c) => [c.id, c.capabilities])).toEqual([
      ['simulator', ['deployer']],
      ['wsus', ['deployer', 'inventory']],
    ]);
    const wsusConfig = body.connectors.find((c) => c.id === 'wsus')!.config;
    expect(wsusConfig).toMatchObject({ username: 'svc', password: '***', groupTemplate: 'Patchflow {ring}' });
    expect(JSON.stringify(body)).not.toContain('wrong');
  });

  it('POST /api/connectors/:id/test reports ok and not ok, and 404 for an unknown connector', async () => {
    const ok = await fetch(`${base}/api/connectors/simulator/test`, { method: 'POST', headers });
    expect(await ok.json()).toMatchObject({ id: 'simulator', ok: true });
    const bad = await fetch(`${base}/api/connectors/wsus/test`, { method: 'POST', headers });
    expect(await bad.json()).toMatchObject({
      id: 'wsus',
      ok: false,
      message: expect.stringMatching(/rejected the credentials/),
    });
    const missing = await fetch(`${base}/api/connectors/nope/test`, { method: 'POST', headers });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('patchflow connectors list and test talk to the server and exit 0 or 1', async () => {
    vi.stubEnv('PATCHFLOW_URL', base);
    vi.stubEnv('PATCHFLOW_DATA_DIR', dataDir);
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      const [list, test] = connectorCommands;
      expect(await list!.run({ values: {}, positionals: [] })).toBe(0);
      expect(out.join('')).toMatch(
        /^simulator\s+Fleet simulator.*deployer\nwsus\s+Windows Server Update Services.*deployer, inventory\n$/,
      );
      out.length = 0;
      expect(await list!.run({ values: { json: true }, positionals: [] })).toBe(0);
      expect(JSON.parse(out.join(''))).toHaveLength(2);
      out.length = 0;
      expect(await test!.run({ values: {}, positionals: ['simulator'] })).toBe(0);
      expect(out.join('')).toMatch(/^simulator: ok — simulated fleet, seed 3/);
      expect(await test!.run({ values: {}, positionals: ['wsus'] })).toBe(1);
      await expect(test!.run({ values: {}, positionals: [] })).rejects.toThrow(/<id> is required/);
    } finally {
      write.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});
