import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../runtime/settings.ts';
import { runCli as runCliWith } from '../helpers/cli.ts';
import { api, startStack, type TestStack } from '../helpers/stack.ts';

type ErrorBody = {
  error: { code: string; message: string; details: { path: (string | number)[]; message: string }[] };
};

describe('bad input gets a clear error naming the field, and writes nothing', () => {
  let stack: TestStack;
  const counts = async () => ({
    cycles: Number(((await stack.ctx.db('cycles').count('* as n')) as { n: number }[])[0]!.n),
    audit: Number(((await stack.ctx.db('audit_events').count('* as n')) as { n: number }[])[0]!.n),
  });
  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => stack?.stop());

  const runCli = (...args: string[]) => runCliWith({ ...stack.env, PATCHFLOW_URL: stack.url }, args);

  it.each([
    ['not JSON', '{"requester": ', [], /not valid JSON/],
    ['patches of the wrong type', { patches: 'DEMO-APP-2.4.1' }, ['patches'], /expected array/],
    ['no patches and no demo', {}, ['patches'], /at least one patch/],
    ['an unknown patch', { patches: ['DEMO-APP-2.4.1', 'KB0000000'] }, ['patches', 1], /unknown patch/],
    ['an unknown field', { patches: ['DEMO-APP-2.4.1'], approver: 'carol' }, [], /approver/],
    // The actor is the credential's owner; a body that names one is refused, not believed.
    ['naming the requester', { requester: 'alice', patches: ['DEMO-APP-2.4.1'] }, [], /requester/],
    [
      'a quorum of zero',
      { demo: true, policy: { approval: { quorum: 0 } } },
      ['policy', 'approval', 'quorum'],
      /too small|>=1/i,
    ],
    [
      'a timeout that is not a duration',
      { demo: true, policy: { approval: { timeout: 'tomorrow' } } },
      ['approval', 'timeout'],
      /duration/,
    ],
  ])('POST /api/cycles with %s → 400', async (_name, body, path, message) => {
    const before = await counts();
    const res = await api<ErrorBody>(stack, 'POST', '/api/cycles', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_input');
    expect(res.body.error.message).toMatch(message);
    if (path.length) expect(res.body.error.details.map((d) => d.path)).toContainEqual(path);
    expect(await counts()).toEqual(before);
  });

  it('a requester without the coordinator role is refused (403) and the refusal is the only record', async () => {
    const before = await counts();
    const res = await api<ErrorBody>(stack, 'POST', '/api/cycles', { patches: ['DEMO-APP-2.4.1'] }, 'alice');
    expect(res.status).toBe(403);
    expect(res.body.error.message).toBe('alice may not start a patch cycle: needs the coordinator role (has approver)');
    expect(await counts()).toEqual({ cycles: before.cycles, audit: before.audit + 1 });
  });

  it('approvals: a body naming the approver is refused, an unknown cycle is 404', async () => {
    const named = await api<ErrorBody>(stack, 'POST', '/api/cycles/cyc-nope/approve', { by: 'bob' }, 'alice');
    expect(named.status).toBe(400);
    expect(named.body.error.message).toMatch(/Unrecognized key: "by"/);
    const unknown = await api<ErrorBody>(stack, 'POST', '/api/cycles/cyc-nope/approve', {}, 'alice');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toBe('no cycle cyc-nope');
  });

  it('users: a bad role or Slack id names the field', async () => {
    const res = await api<ErrorBody>(stack, 'PUT', '/api/users/dave', { roles: ['root'], slackUserId: 'dave' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d) => d.path)).toEqual([['roles', 0], ['slackUserId']]);
    expect(await stack.ctx.db('users').where({ id: 'dave' })).toHaveLength(0);
  });

  it('CLI: a missing option, an unknown option and a server-side refusal each exit non-zero with the reason', async () => {
    const noReason = await runCli('cycle', 'reject', 'cyc-x', '--as', 'bob');
    expect(noReason.status).toBe(2);
    expect(noReason.stderr).toContain('--reason is required');

    const notLocal = await runCli('cycle', 'approve', 'cyc-x', '--as', 'zoe');
    expect(notLocal.status).toBe(2);
    expect(notLocal.stderr).toMatch(/no local token for "zoe" in .*local-tokens.json \(local users: admin, /);

    const unknownOption = await runCli('cycle', 'start', '--demo', '--aproval', 'x');
    expect(unknownOption.status).toBe(2);
    expect(unknownOption.stderr).toMatch(/Unknown option '--aproval'/);
    expect(unknownOption.stderr).toContain('usage: patchflow cycle start');

    const badPatch = await runCli('cycle', 'start', '--as', 'carol', '--patch', 'KB0000000');
    expect(badPatch.status).toBe(2);
    expect(badPatch.stderr).toContain('unknown patch "KB0000000"');
    expect(badPatch.stderr).toContain('patches.0: unknown patch id');
  });

  it('CLI: no server running gives the command that starts one', async () => {
    const r = await runCliWith({ ...stack.env, PATCHFLOW_URL: 'http://127.0.0.1:9' }, ['cycle', 'list']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /cannot reach the Patchflow server at http:\/\/127\.0\.0\.1:9 .*start it with `npm start`/,
    );
  });
});

describe('settings', () => {
  it('a wrong setting fails at start-up naming the field', () => {
    expect(() => loadSettings({ PATCHFLOW_HTTP_PORT: '99999' })).toThrow(/http\.port/);
    expect(() => loadSettings({ DATABASE_URL: 'mysql://x' })).toThrow(/databaseUrl: a postgres:\/\/ URL/);
    expect(() => loadSettings({ PATCHFLOW_APPROVAL_TIMEOUT: '3 days' })).toThrow(/policy\.approval\.timeout/);
    expect(() => loadSettings({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS_CERT: '/c', TEMPORAL_TLS_KEY: '/k' })).toThrow(
      /temporal\.apiKey: use either apiKey or tls client certificates/,
    );
    expect(() => loadSettings({ PATCHFLOW_DEPLOYMENT_HEARTBEAT: 'soon' })).toThrow(
      /temporal\.timeouts\.deploymentHeartbeat/,
    );
  });
});
