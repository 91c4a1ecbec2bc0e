import type { Router } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../../app/context.ts';
import { upsertUser } from '../../db/repositories/users.ts';
import { routeModules } from '../../server/routes/index.ts';
import { api, startDemoCycle, startStack, type TestStack } from '../helpers/stack.ts';

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
}

/** Every REST route, read from the route modules themselves, so that a new route is covered without listing it here. */
function everyRoute(): Route[] {
  const routes: Route[] = [];
  for (const mod of routeModules) {
    const record =
      (method: Route['method']) =>
      (path: string): unknown => {
        routes.push({ method, path: `/api${mod.path}${path === '/' ? '' : path}` });
        return recorder;
      };
    const recorder = {
      get: record('GET'),
      post: record('POST'),
      put: record('PUT'),
      patch: record('PATCH'),
      delete: record('DELETE'),
    };
    mod.register(recorder as unknown as Router, {} as AppContext);
  }
  // Parameters get values that name nothing, so that no route acts on a real record.
  return routes.map((r) => ({ ...r, path: r.path.replace(/:[A-Za-z]+/g, 'nothing-here') }));
}

/** Routes any signed-in person may use for themself: their own tokens and who they are. */
const selfService = new Set(['POST /api/tokens', 'DELETE /api/tokens/nothing-here']);

describe('every REST route knows who is acting', () => {
  let stack: TestStack;
  const routes = everyRoute();

  beforeAll(async () => {
    stack = await startStack({ worker: false });
    await upsertUser(stack.ctx.db, { id: 'victor', displayName: 'Victor (viewer)', roles: ['viewer'] });
  });
  afterAll(async () => stack?.stop());

  it('lists the routes it checks', () => {
    expect(routes.length).toBeGreaterThan(30);
    expect(routes).toContainEqual({ method: 'POST', path: '/api/cycles/nothing-here/approve' });
    expect(routes).toContainEqual({ method: 'PUT', path: '/api/users/nothing-here' });
    expect(routes).toContainEqual({ method: 'GET', path: '/api/audit' });
  });

  it('refuses every route without a credential (401), and with a token that is not one', async () => {
    for (const r of routes) {
      const none = await api<{ error: { code: string; message: string } }>(
        stack,
        r.method,
        r.path,
        r.method === 'GET' ? undefined : {},
        null,
      );
      expect(none.status, `${r.method} ${r.path}`).toBe(401);
      expect(none.body.error.code).toBe('unauthenticated');
    }
    const forged = await fetch(`${stack.url}/api/audit`, { headers: { authorization: 'Bearer pf_0000_forged' } });
    expect(forged.status).toBe(401);
  });

  it('refuses every write to a viewer (403) with the role needed, and audits each refusal as the viewer', async () => {
    const writes = routes.filter((r) => r.method !== 'GET' && !selfService.has(`${r.method} ${r.path}`));
    expect(writes.length).toBeGreaterThan(15);
    const before = Number((await stack.ctx.db('audit_events').where({ actor: 'victor' }).count({ n: '*' }))[0]!.n);
    for (const r of writes) {
      const res = await api<{ error: { code: string; message: string } }>(stack, r.method, r.path, {}, 'victor');
      expect(res.status, `${r.method} ${r.path}`).toBe(403);
      expect(res.body.error.message, `${r.method} ${r.path}`).toMatch(/^victor may not .+: needs the .+ role/);
    }
    const refusals = (await stack.ctx.db('audit_events').where({ actor: 'victor' }).orderBy('seq').offset(before)) as {
      action: string;
      data: { reason: string; via: string };
    }[];
    expect(refusals).toHaveLength(writes.length);
    for (const e of refusals) {
      expect(e.action).toMatch(/\.refused$/);
      expect(e.data).toMatchObject({ via: 'token', reason: expect.stringMatching(/^victor may not/) });
    }
  });

  it('lets a viewer read every read route (no 401 or 403)', async () => {
    for (const r of routes.filter((x) => x.method === 'GET')) {
      const res = await api(stack, r.method, r.path, undefined, 'victor');
      expect([401, 403], `${r.method} ${r.path}`).not.toContain(res.status);
    }
  });

  it('records the principal as the actor, and refuses a body that names someone else', async () => {
    const id = await startDemoCycle(stack);
    const cycle = await api<{ cycle: { requester: string } }>(stack, 'GET', `/api/cycles/${id}`);
    expect(cycle.body.cycle.requester).toBe('carol');
    const requested = await stack.ctx.db('audit_events').where({ subject_id: id, action: 'cycle.requested' }).first();
    expect(requested.actor).toBe('carol');

    const asAlice = await api<{ error: { details: { path: string[]; message: string }[] } }>(
      stack,
      'POST',
      '/api/cycles',
      { demo: true, requester: 'alice' },
      'carol',
    );
    expect(asAlice.status).toBe(400);
    expect(asAlice.body.error.details[0]!.message).toMatch(/Unrecognized key.*requester/);
    const approveAs = await api(stack, 'POST', `/api/cycles/${id}/approve`, { by: 'alice' }, 'bob');
    expect(approveAs.status).toBe(400);

    // Only an admin hands out chat identities: carol may not take alice's Slack account.
    const takeover = await api(stack, 'PUT', '/api/users/alice', { slackUserId: 'U0CAROL' }, 'carol');
    expect(takeover.status).toBe(403);
    expect((await stack.ctx.db('users').where({ id: 'alice' }).first()).slack_user_id).not.toBe('U0CAROL');
  });
});
