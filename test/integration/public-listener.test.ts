import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertUser } from '../../db/repositories/users.ts';
import { SlackDriver } from '../helpers/chat-drivers.ts';
import { api, startStack, type TestStack } from '../helpers/stack.ts';

describe('the public listener serves only what Slack and Teams must reach', () => {
  let stack: TestStack;
  const slack = new SlackDriver();
  const carol = { id: 'carol', displayName: 'Carol', slackUserId: 'UCAROL001', teamsAadId: '' };

  beforeAll(async () => {
    stack = await startStack({ worker: false, publicListener: true, env: await slack.start() });
    await upsertUser(stack.ctx.db, { id: 'carol', roles: ['coordinator'], slackUserId: carol.slackUserId });
    // Slack is pointed at the public listener, as the reverse proxy would forward it.
    slack.connect({ ...stack, url: stack.publicUrl! });
  });
  afterAll(async () => {
    await stack?.stop();
    await slack.close();
  });

  it('answers a signed Slack command there, and a forged one is refused by the connector', async () => {
    expect(await slack.command(carol, 'status')).toMatch(/no cycles are running|running/i);
    const forged = await fetch(`${stack.publicUrl}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'command=%2Fpatchflow&text=status&user_id=UCAROL001',
    });
    expect(forged.status).toBe(401);
  });

  it('answers 404 for the API, the dashboard, sign-in and health there; the private listener serves them', async () => {
    for (const path of ['/api/whoami', '/api/cycles', '/', '/login', '/auth/config', '/healthz']) {
      const res = await fetch(`${stack.publicUrl}${path}`, {
        headers: { authorization: `Bearer ${await stack.tokenFor('admin')}` },
      });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
        /is not served on the public listener: it serves only \/slack\/\* and \/teams\/\*$/,
      );
    }
    expect((await api(stack, 'GET', '/api/whoami')).status).toBe(200);
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  });
});
