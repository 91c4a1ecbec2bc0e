import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, redactString, registerSecrets } from '../../kernel/logger.ts';
import { configureRegistry, settingsSecrets } from '../../runtime/context.ts';
import { loadSettings } from '../../runtime/settings.ts';

/** The JSON lines a logger writes to stderr while `fn` runs. */
function linesWritten(fn: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return lines.flatMap((l) => l.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const log = createLogger({}, 'debug');

describe('log redaction', () => {
  afterEach(() => vi.restoreAllMocks());

  it('replaces the value of every credential-named field at any depth, whatever its case or separators', () => {
    const [line] = linesWritten(() =>
      log.warn('request failed', {
        connector: 'servicenow',
        request: {
          headers: {
            Authorization: 'Basic c3ZjOnB3',
            Cookie: 'JSESSIONID=abc',
            'X-ApiKeys': 'accessKey=a; secretKey=b',
          },
          body: [{ client_secret: 'cs-1', refreshToken: 'rt-1', nested: { PRIVATE_KEY: 'pk', signingSecret: 's' } }],
        },
        password: 'hunter2',
        apiKey: 'k',
        botToken: 'xoxb-1',
      }),
    );
    expect(line).toMatchObject({
      level: 'warn',
      msg: 'request failed',
      connector: 'servicenow',
      request: {
        headers: { Authorization: '***', Cookie: '***', 'X-ApiKeys': '***' },
        body: [{ client_secret: '***', refreshToken: '***', nested: { PRIVATE_KEY: '***', signingSecret: '***' } }],
      },
      password: '***',
      apiKey: '***',
      botToken: '***',
    });
  });

  it('leaves fields that are not credentials exactly as they were', () => {
    const fields = {
      cycleId: 'c-42',
      hosts: ['web01', 'db01'],
      attempt: 3,
      ok: false,
      note: null,
      at: new Date('2025-01-02T03:04:05.000Z'),
      url: 'https://nessus.corp.example:8834/scans/7?history_id=2',
      err: 'ServiceNow POST change_request: HTTP 503 — Service Unavailable',
    };
    const [line] = linesWritten(() => log.info('cycle step', fields));
    expect(line).toEqual({
      time: expect.any(String),
      level: 'info',
      msg: 'cycle step',
      ...JSON.parse(JSON.stringify(fields)),
    });
  });

  it('replaces registered secret values inside messages, error messages, stack traces and nested strings', () => {
    registerSecrets(['Sn0w-pa55-unit', undefined, 'AK-unit-0123456789']);
    const err = new Error('login as svc with Sn0w-pa55-unit refused', { cause: new Error('key AK-unit-0123456789') });
    const [line] = linesWritten(() =>
      log.child({ connector: 'nessus' }).error('scan failed: AK-unit-0123456789 rejected', {
        err,
        stack: err.stack,
        detail: { lines: ['x', 'the password is Sn0w-pa55-unit.'] },
      }),
    );
    const text = JSON.stringify(line);
    expect(text).not.toContain('Sn0w-pa55-unit');
    expect(text).not.toContain('AK-unit-0123456789');
    expect(line).toMatchObject({
      msg: 'scan failed: *** rejected',
      connector: 'nessus',
      err: {
        name: 'Error',
        message: 'login as svc with *** refused',
        stack: expect.stringMatching(/^Error: login as svc with \*\*\* refused\n\s+at /),
        cause: { message: 'key ***' },
      },
      stack: expect.stringContaining('login as svc with *** refused'),
      detail: { lines: ['x', 'the password is ***.'] },
    });
  });

  it('keeps the user and host of a URL and drops its password', () => {
    expect(redactString('cannot connect to postgres://patchflow:s3cr%40t@db.corp:5432/patchflow (timeout)')).toBe(
      'cannot connect to postgres://patchflow:***@db.corp:5432/patchflow (timeout)',
    );
    expect(redactString('GET https://admin:pw@awx.corp/api/v2/ and http://host:8080/x')).toBe(
      'GET https://admin:***@awx.corp/api/v2/ and http://host:8080/x',
    );
  });

  it('replaces bearer and basic credentials, credential headers and key=value pairs in any string', () => {
    expect(redactString('HTTP 500 — Authorization: Bearer eyJhbGciOi.J9.sig\nCookie: a=1; b=2\nAccept: */*')).toBe(
      'HTTP 500 — Authorization: ***\nCookie: ***\nAccept: */*',
    );
    expect(redactString('{"authorization":"Basic c3ZjOnB3==","x-apikeys":"accessKey=AK1; secretKey=SK1"}')).toBe(
      '{"authorization":"***","x-apikeys":"***"}',
    );
    expect(redactString('sent accessKey=AK1; secretKey=SK1 to nessus')).toBe(
      'sent accessKey=***; secretKey=*** to nessus',
    );
    expect(redactString('token refused: bearer abc.def')).toBe('token refused: bearer ***');
    expect(redactString('GET /feed?api_key=K123&page=2 password: hunter2')).toBe(
      'GET /feed?api_key=***&page=2 password: ***',
    );
  });

  it('writes a line with a cycle in it rather than failing', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop['self'] = loop;
    const shared = { host: 'web01' };
    const [line] = linesWritten(() => log.info('shapes', { loop, a: shared, b: shared }));
    expect(line).toMatchObject({ loop: { name: 'loop', self: '[Circular]' }, a: shared, b: shared });
  });
});

describe('the secrets of the settings', () => {
  it('are every secret() connector setting, the Temporal API key, the OIDC client secret and the database password', () => {
    const settings = loadSettings({
      PATCHFLOW_DATA_DIR: '/tmp/patchflow-logger-redaction',
      DATABASE_URL: 'postgres://patchflow:db%2Fpa55@db.corp:5432/patchflow',
      TEMPORAL_API_KEY: 'temporal-api-key-1',
      PATCHFLOW_OIDC_ISSUER: 'https://login.example.com/',
      PATCHFLOW_OIDC_CLIENT_ID: 'patchflow',
      PATCHFLOW_OIDC_CLIENT_SECRET: 'oidc-client-secret-1',
      PATCHFLOW_OIDC_ROLE_MAP: 'Patchflow.Admin=admin',
      SLACK_BOT_TOKEN: 'xoxb-slack-bot-token-1',
      SLACK_SIGNING_SECRET: 'slack-signing-secret-1',
      SLACK_CHANNEL: 'C0APPROVAL',
      TEAMS_APP_ID: '9a3c2b1e-5f4d-4c6b-8a7e-1d2f3a4b5c6d',
      TEAMS_APP_PASSWORD: 'teams-app-password-1',
      TEAMS_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      TEAMS_CHANNEL_ID: '19:patch-approvals@thread.tacv2',
      SERVICENOW_INSTANCE_URL: 'https://acme.service-now.com',
      SERVICENOW_OAUTH_TOKEN: 'servicenow-oauth-token-1',
      SERVICENOW_ASSIGNMENT_GROUP: '287ebd7da9fe198100f92cc8d1d2154e',
    });
    const registry = configureRegistry(settings, createLogger({}, 'error'));
    expect(settingsSecrets(settings, registry).sort()).toEqual(
      [
        'db%2Fpa55',
        'db/pa55',
        'temporal-api-key-1',
        'oidc-client-secret-1',
        'xoxb-slack-bot-token-1',
        'slack-signing-secret-1',
        'teams-app-password-1',
        'servicenow-oauth-token-1',
      ].sort(),
    );
    // configureRegistry registered them: a line quoting one no longer shows it.
    expect(redactString('chat failed with slack-signing-secret-1 and db/pa55')).toBe('chat failed with *** and ***');
  });
});
