import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployerFor, deployerRoutingSchema } from '../../app/deployer-routing.ts';
import type { AppContext } from '../../app/context.ts';
import type { CyclePlan } from '../../app/plan.ts';
import { renderPlan } from '../../bin/commands/cycles.ts';
import { createLogger } from '../../kernel/logger.ts';
import { configureRegistry } from '../../runtime/context.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { createPatchflowWorker } from '../../runtime/worker.ts';
import { api, finished, inPhase, startDemoCycle, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

describe('several deployers in one installation', () => {
  it('routes by patch group first, then platform, then the default; settings come from the file or one variable each', () => {
    const routing = deployerRoutingSchema.parse({ byGroup: { dmz: 'awx' }, byPlatform: { windows: 'wsus' } });
    expect(deployerFor({ platform: 'Windows', patchGroup: 'dmz' }, routing, 'ansible')).toBe('awx');
    expect(deployerFor({ platform: 'Windows', patchGroup: 'web' }, routing, 'ansible')).toBe('wsus');
    expect(deployerFor({ platform: 'linux' }, routing, 'ansible')).toBe('ansible');
    const settings = loadSettings({
      PATCHFLOW_DEPLOYER_BY_PLATFORM: 'windows=wsus, linux=ansible',
      PATCHFLOW_DEPLOYER_BY_GROUP: 'dmz=awx',
    });
    expect(settings.deployers).toEqual({ byPlatform: { windows: 'wsus', linux: 'ansible' }, byGroup: { dmz: 'awx' } });
    expect(() => loadSettings({ PATCHFLOW_DEPLOYER_BY_PLATFORM: 'windows' })).toThrow(/deployers\.byPlatform\.windows/);
  });

  describe('a cycle on a mixed fleet', () => {
    let stack: TestStack;
    beforeAll(async () => {
      const config = path.join(process.env['TMPDIR'] ?? '/tmp', `patchflow-routing-${process.pid}.json`);
      writeFileSync(config, JSON.stringify({ connectors: { ansible: {}, simulator: {} } }));
      stack = await startStack({
        env: {
          PATCHFLOW_CONFIG: config,
          PATCHFLOW_DEPLOYER_BY_GROUP: 'app=simulator,db=simulator',
          // The simulator cannot back up: app-01 is backed up by Ansible instead, db-01 by nobody.
          PATCHFLOW_BACKUP_BY_GROUP: 'app=ansible',
        },
      });
    });
    afterAll(async () => stack?.stop());

    it('patches each host through its own deployer, backs it up through its own provider, and verifies it there', async () => {
      // The plan says which deployer patches which host before anything runs.
      const plan = await api<CyclePlan>(
        stack,
        'POST',
        '/api/cycles/plan',
        { demo: true, hosts: ['staging-01', 'web-01', 'app-01', 'db-01'] },
        'carol',
      );
      expect(plan.status).toBe(200);
      expect(plan.body.deployers).toEqual({ ansible: 2, simulator: 2 });
      expect(plan.body.rings.flatMap((r) => r.hosts.map((h) => [h.hostname, h.deployer]))).toEqual(
        expect.arrayContaining([
          ['app-01', 'simulator'],
          ['db-01', 'simulator'],
          ['web-01', 'ansible'],
        ]),
      );
      expect(renderPlan(plan.body)).toContain('deployers: ansible 2 host(s), simulator 2 host(s)');
      const id = await startDemoCycle(stack, { hosts: ['staging-01', 'web-01', 'app-01', 'db-01'] });
      await waitForCycle(stack, id, inPhase('approval'), 120_000);
      expect((await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice')).status).toBe(200);
      const done = await waitForCycle(stack, id, finished, 180_000);
      expect(done.cycle.status).toBe('completed');
      const version = (h: string) => readFileSync(`${stack.fleet.hostRoot(h)}/app/VERSION`, 'utf8').trim();
      // Ansible patched its hosts' files; the simulator, not Ansible, handled app-01, whose file is untouched.
      expect(['staging-01', 'web-01', 'app-01', 'db-01'].map(version)).toEqual(['2.4.1', '2.4.1', '2.4.0', '2.4.0']);
      const attempts = (await stack.ctx
        .db('deployments as d')
        .join('assets as a', 'a.id', 'd.asset_id')
        .where({ 'd.cycle_id': id, 'd.outcome': 'patched' })
        .select('a.hostname', 'd.evidence', 'd.message')
        .orderBy('a.hostname')) as { hostname: string; evidence: Record<string, unknown>; message: string }[];
      expect(attempts.map((a) => [a.hostname, a.evidence['simulated'] === true])).toEqual([
        ['app-01', true],
        ['db-01', true],
        ['staging-01', false],
        ['web-01', false],
      ]);
      // Each attempt keeps where its host's backup lives, or says that none was taken and why.
      const backup = (h: string) => attempts.find((a) => a.hostname === h)!;
      expect(backup('web-01').evidence['backup']).toMatchObject({ provider: 'ansible', reference: expect.any(String) });
      expect(backup('app-01').evidence['backup']).toMatchObject({ provider: 'ansible', reference: expect.any(String) });
      expect(backup('db-01').evidence['backup']).toMatchObject({
        none: expect.stringContaining('simulator cannot back up'),
      });
      expect(backup('db-01').message).toMatch(/no backup was taken: no backup provider covers db-01/);
      expect((done.cycle.summary as { verification: { compliant: number } }).verification.compliant).toBe(4);
    });
  });

  it('refuses at start a routing that names a connector that is not a configured deployer', async () => {
    const settings = loadSettings({ PATCHFLOW_DEPLOYER_BY_PLATFORM: 'windows=wsus' });
    const logger = createLogger({}, 'warn');
    const ctx = { settings, logger, registry: configureRegistry(settings, logger) } as unknown as AppContext;
    await expect(createPatchflowWorker(ctx)).rejects.toThrow(/connector "wsus" is not configured/);
  });
});
