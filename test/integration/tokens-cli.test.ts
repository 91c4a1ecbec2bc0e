import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { api, startStack, type TestStack } from '../helpers/stack.ts';

describe('API tokens from the CLI: create, use, list, revoke', () => {
  let stack: TestStack;
  // The CLI beside a local-mode server: it finds the local tokens in the data directory.
  const local = (...args: string[]) =>
    runCli({ PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_DATA_DIR: stack.dataDir }, args);
  const withToken = (token: string, ...args: string[]) =>
    runCli({ PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_TOKEN: token }, args);

  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => stack?.stop());

  it('carol makes a read-only token for a script, which acts as her with read only, until she revokes it', async () => {
    expect((await local('whoami', '--as', 'carol')).stdout).toBe('carol (coordinator); scopes read, operate\n');

    const made = await local(
      'tokens',
      'create',
      'dashboard-script',
      '--scopes',
      'read',
      '--expires',
      '30d',
      '--as',
      'carol',
      '--json',
    );
    expect(made.status, made.stderr).toBe(0);
    const { token, info } = JSON.parse(made.stdout) as { token: string; info: { id: string; expiresAt: string } };
    expect(token).toMatch(/^pf_[0-9a-f]{16}_/);
    expect(Date.parse(info.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    // Only its hash is kept.
    const row = await stack.ctx.db('api_tokens').where({ id: info.id }).first();
    expect(JSON.stringify(row)).not.toContain(token.slice(`pf_${info.id}_`.length));

    expect((await withToken(token, 'whoami')).stdout).toBe('carol (coordinator); scopes read\n');
    const refused = await withToken(token, 'cycle', 'start', '--demo');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      /carol may not start a patch cycle with this credential: it lacks the operate scope \(has read\)/,
    );

    const listed = await local('tokens', 'list', '--as', 'carol');
    expect(listed.stdout).toMatch(
      new RegExp(`^${info.id}  carol\\s+dashboard-script\\s+read\\s+expires .*; last used 20`, 'm'),
    );

    expect((await local('tokens', 'revoke', info.id, '--as', 'carol')).stdout).toBe(
      `revoked token ${info.id} "dashboard-script" of carol\n`,
    );
    const after = await withToken(token, 'whoami');
    expect(after.status).toBe(1);
    expect(after.stderr).toMatch(new RegExp(`API token ${info.id} was revoked at `));
  });

  it('refuses a scope beyond the roles, another person’s token for a non-admin, and bad options, naming each', async () => {
    const beyond = await local('tokens', 'create', 'too-much', '--scopes', 'read,admin', '--as', 'carol');
    expect(beyond.status).toBe(2);
    expect(beyond.stderr).toMatch(/scopes: not allowed for carol: admin/);
    const forAlice = await local(
      'tokens',
      'create',
      'for-alice',
      '--scopes',
      'read',
      '--user',
      'alice',
      '--as',
      'carol',
    );
    expect(forAlice.status).toBe(1);
    expect(forAlice.stderr).toMatch(/carol may not manage other people's API tokens: needs the admin role/);
    const badScope = await local('tokens', 'create', 'x', '--scopes', 'everything');
    expect(badScope.status).toBe(2);
    expect(badScope.stderr).toMatch(/--scopes/);
    const badExpiry = await local('tokens', 'create', 'x', '--scopes', 'read', '--expires', 'soon');
    expect(badExpiry.stderr).toMatch(/--expires: "soon" is not a duration/);
    expect(await stack.ctx.db('api_tokens').whereIn('name', ['too-much', 'for-alice', 'x'])).toEqual([]);
  });

  it('lets an admin make a service token for another user and list everyone’s', async () => {
    const svc = await local('tokens', 'create', 'ci-bot', '--scopes', 'read,operate', '--user', 'carol', '--json');
    expect(svc.status, svc.stderr).toBe(0);
    const all = await api<{ tokens: { userId: string; name: string; createdBy: string }[] }>(
      stack,
      'GET',
      '/api/tokens?all=true',
    );
    expect(all.body.tokens).toContainEqual(
      expect.objectContaining({ userId: 'carol', name: 'ci-bot', createdBy: 'admin' }),
    );
    const audit = await stack.ctx.db('audit_events').where({ action: 'token.created', subject_id: 'carol' });
    expect(audit.map((e: { data: { name: string } }) => e.data.name)).toContain('ci-bot');
  });
});
