import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { defaultChangeTransitions } from '../emulators/jira-sm.ts';
import { inPhase, startDemoCycle, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

/** Every secret the stack is configured with; each is unique, so a match can only be a leak. */
const secrets = {
  serviceNowPassword: 'Sn0w-leak-check-7f3a',
  jiraApiToken: 'ATATT3x-leak-check-9c1e',
  nessusAccessKey: 'nessus-access-leak-4b2d',
  nessusSecretKey: 'nessus-secret-leak-8e6f',
  openvasPassword: 'gvm-leak-check-2a9b',
  wsusPassword: 'wsus-leak-check-5d7c',
};
const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');
/** What the ITSM connectors send: the secrets as they travel, base64 in a Basic header. */
const sentCredentials = [
  basic('svc-patchflow', secrets.serviceNowPassword),
  basic('patchflow@acme.example', secrets.jiraApiToken),
];

/**
 * Not a vendor: a misconfigured reverse proxy in front of ServiceNow and Jira that answers every
 * request 500 with a plain-text dump of the request headers, the way debugging proxies and some
 * error pages do. Both clients put a non-JSON error body into their error message as it is, so the
 * Authorization header reaches the "change record not updated" log line unless the logger redacts it.
 */
async function startLeakyProxy(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    const dump = Object.entries(req.headers)
      .sort(([a], [b]) => Number(b === 'authorization') - Number(a === 'authorization'))
      .map(([name, value]) => `${name}: ${String(value)}`)
      .join('\n');
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`upstream error; request was\n${dump}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('logs of a running stack with every connector secret set', () => {
  let proxy: Awaited<ReturnType<typeof startLeakyProxy>>;
  let stack: TestStack;
  let stderr: MockInstance<typeof process.stderr.write>;
  const written: string[] = [];
  const lines = () => written.join('').split('\n').filter(Boolean);
  /** The logger's lines among everything written to stderr. */
  const logLines = () =>
    lines().flatMap((l) => {
      try {
        return [JSON.parse(l) as { level: string; msg: string; connector?: string; err?: unknown }];
      } catch {
        return [];
      }
    });

  beforeAll(async () => {
    stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    proxy = await startLeakyProxy();
    // WSUS has no environment variables: its settings come from the config file, as an operator writes it.
    const configFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'patchflow-log-redaction-')), 'patchflow.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        connectors: {
          ansible: {},
          wsus: {
            endpoint: 'https://wsus01.corp.example:5986/wsman',
            username: 'CORP\\svc-wsus',
            password: secrets.wsusPassword,
          },
        },
      }),
    );
    stack = await startStack({
      env: {
        PATCHFLOW_CONFIG: configFile,
        PATCHFLOW_LOG_LEVEL: 'warn',
        SERVICENOW_INSTANCE_URL: proxy.url,
        SERVICENOW_USERNAME: 'svc-patchflow',
        SERVICENOW_PASSWORD: secrets.serviceNowPassword,
        SERVICENOW_ASSIGNMENT_GROUP: '287ebd7da9fe198100f92cc8d1d2154e',
        SERVICENOW_REQUEST_TIMEOUT: '5s',
        JIRA_SM_SITE_URL: proxy.url,
        JIRA_SM_EMAIL: 'patchflow@acme.example',
        JIRA_SM_API_TOKEN: secrets.jiraApiToken,
        JIRA_SM_SERVICE_DESK_ID: '4',
        JIRA_SM_REQUEST_TYPE_ID: '10',
        JIRA_SM_REQUEST_TIMEOUT: '5s',
        ...Object.fromEntries(
          Object.entries(defaultChangeTransitions).map(([stage, name]) => [
            `JIRA_SM_TRANSITION_${stage.toUpperCase()}`,
            name,
          ]),
        ),
        NESSUS_URL: proxy.url,
        NESSUS_ACCESS_KEY: secrets.nessusAccessKey,
        NESSUS_SECRET_KEY: secrets.nessusSecretKey,
        OPENVAS_HOST: '127.0.0.1',
        OPENVAS_USERNAME: 'patchflow',
        OPENVAS_PASSWORD: secrets.openvasPassword,
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await proxy?.close();
    stderr?.mockRestore();
  });

  it('a cycle whose ITSM tools fail with the credentials in their answers logs the failures, credentials redacted', async () => {
    expect(Object.keys(stack.ctx.settings.connectors).sort()).toEqual(
      ['ansible', 'jira-sm', 'nessus', 'openvas', 'servicenow', 'wsus'].sort(),
    );
    const id = await startDemoCycle(stack);
    await waitForCycle(stack, id, inPhase('approval'), 180_000);
    const failures = () => logLines().filter((l) => l.msg === 'change record not updated');
    await expect
      .poll(() => new Set(failures().map((l) => l.connector)), { timeout: 60_000 })
      .toEqual(new Set(['servicenow', 'jira-sm']));
    expect(proxy.requests()).toBeGreaterThanOrEqual(2);
    for (const line of failures()) {
      expect(line.err).toContain('HTTP 500');
      expect(line.err).toContain('authorization: ***');
    }

    // An error that quotes the configured secrets themselves, as a connector's own message might.
    stack.ctx.logger.error('connector check failed', {
      err: new Error(`refused: ${Object.values(secrets).join(', ')}`),
    });
    expect(logLines().find((l) => l.msg === 'connector check failed')).toMatchObject({
      level: 'error',
      err: {
        message: `refused: ${Object.values(secrets)
          .map(() => '***')
          .join(', ')}`,
      },
    });

    const all = lines().join('\n');
    for (const value of [...Object.values(secrets), ...sentCredentials]) expect(all).not.toContain(value);
  }, 300_000);
});
