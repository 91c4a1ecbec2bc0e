import { spawn } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, SignJWT } from 'jose';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { runCli } from '../helpers/cli.ts';
import {
  CLI_CLIENT,
  DASHBOARD_CLIENT,
  PROVIDER_AUDIENCE,
  signInAtProvider,
  startIdentityProvider,
  type IdentityProvider,
} from '../helpers/identity-provider.ts';
import { startStack, type TestStack } from '../helpers/stack.ts';

const cli = fileURLToPath(new URL('../../bin/patchflow.mjs', import.meta.url));

describe('sign-in through a real OpenID provider', () => {
  let idp: IdentityProvider;
  let stack: TestStack;
  let browser: Browser;
  // The CLI on a laptop: no local tokens, only what `patchflow login` saves in its config directory.
  const laptop = {
    PATH: process.env['PATH'],
    HOME: mkdtempSync(path.join(os.tmpdir(), 'patchflow-home-')),
    XDG_CONFIG_HOME: mkdtempSync(path.join(os.tmpdir(), 'patchflow-config-')),
    PATCHFLOW_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'patchflow-nolocal-')),
  };
  const onLaptop = (...args: string[]) => runCli({ ...laptop, PATCHFLOW_URL: stack.url }, args);
  const asBearer = (token: string) =>
    fetch(`${stack.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { userId?: string; error?: { message: string } },
    }));

  beforeAll(async () => {
    idp = await startIdentityProvider([
      { login: 'alice', name: 'Alice Approver', groups: ['patchflow-cab', 'staff'] },
      { login: 'olga', name: 'Olga Outsider', groups: ['marketing'] },
    ]);
    stack = await startStack({
      worker: false,
      env: {
        PATCHFLOW_OIDC_ISSUER: idp.issuer,
        PATCHFLOW_OIDC_CLIENT_ID: DASHBOARD_CLIENT.id,
        PATCHFLOW_OIDC_CLIENT_SECRET: DASHBOARD_CLIENT.secret,
        PATCHFLOW_OIDC_CLI_CLIENT_ID: CLI_CLIENT,
        PATCHFLOW_OIDC_AUDIENCE: PROVIDER_AUDIENCE,
        PATCHFLOW_OIDC_SCOPE: 'openid profile patchflow',
        PATCHFLOW_OIDC_ROLE_MAP: 'patchflow-cab=approver;patchflow-admins=admin',
        PATCHFLOW_OIDC_GROUP_MAP: 'patchflow-cab=cab',
      },
    });
    await idp.open(stack.url);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await idp?.close();
  });

  it('signs in to the dashboard with the authorization code and PKCE, maps groups to roles, and signs out for good', async () => {
    // An admin linked alice's Slack account before she first signed in with the provider.
    await stack.ctx.db('users').where({ id: 'alice' }).update({ slack_user_id: 'U0ALICE01' });
    const context = await browser.newContext();
    const page = await context.newPage();
    const authorizeRequests: URL[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(`${idp.issuer}/auth?`)) authorizeRequests.push(new URL(r.url()));
    });
    await page.goto(stack.url);
    await page.waitForURL(`${stack.url}/login`);
    await page.getByText('Sign in with your organisation').click();
    await signInAtProvider(page, idp.issuer, 'alice');
    await page.waitForURL(`${stack.url}/`);
    await expect.poll(() => page.locator('#whoami').textContent()).toBe('alice (approver)');

    const [authorize] = authorizeRequests;
    expect(authorize?.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize?.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorize?.searchParams.get('state')).toBeTruthy();
    const session = (await context.cookies()).find((c) => c.name === 'patchflow_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    // The provider's groups decide roles and approver groups; the chat identity an admin set stays.
    const alice = await stack.ctx.db('users').where({ id: 'alice' }).first();
    expect(alice).toMatchObject({ display_name: 'Alice Approver', roles: ['approver'], groups: ['cab'] });
    expect(alice.slack_user_id).toBe('U0ALICE01');

    // CSRF: the session cookie alone never writes, whatever page sends it.
    const write = await page.evaluate(async () => {
      const r = await fetch('/api/cycles/any/approve', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      return { status: r.status, body: await r.json() };
    });
    expect(write.status).toBe(403);
    expect(write.body.error.message).toMatch(/a dashboard session may only read/);

    await page.locator('#sign-out').click();
    await page.waitForURL(`${stack.url}/login`);
    expect((await context.cookies()).find((c) => c.name === 'patchflow_session')).toBeUndefined();
    // A copy of the cookie taken before signing out no longer works: the session was revoked.
    const copied = await fetch(`${stack.url}/api/whoami`, {
      headers: { cookie: `patchflow_session=${session!.value}` },
    });
    expect(copied.status).toBe(401);
    expect(((await copied.json()) as { error: { message: string } }).error.message).toMatch(/was revoked at/);
    await context.close();
  });

  it('refuses a person none of whose groups maps to a role, naming what they had', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/auth/oidc/start`);
    await signInAtProvider(page, idp.issuer, 'olga');
    await page.waitForURL(/\/login\?error=/);
    await expect
      .poll(() => page.locator('#error').textContent())
      .toBe(
        'olga signed in, but none of their "groups" (marketing) maps to a Patchflow role; mapped are patchflow-cab, patchflow-admins',
      );
    expect(await stack.ctx.db('users').where({ id: 'olga' }).first()).toBeUndefined();
    const refused = await stack.ctx.db('audit_events').where({ action: 'auth.refused' }).orderBy('seq', 'desc').first();
    expect(refused.data.reason).toMatch(/^olga signed in, but none/);
    await context.close();
  });

  it('signs the CLI in with the device flow, acts as that person, and signs out', async () => {
    const login = spawn(process.execPath, [cli, 'login'], { env: { ...laptop, PATCHFLOW_URL: stack.url } });
    let stderr = '';
    let stdout = '';
    login.stdout.on('data', (c) => (stdout += String(c)));
    const verification = await new Promise<string>((resolve, reject) => {
      login.stderr.on('data', (c) => {
        stderr += String(c);
        const url = /Then open (\S+) in a browser/.exec(stderr)?.[1];
        if (url) resolve(url);
      });
      login.once('exit', () => reject(new Error(`login exited early: ${stderr}`)));
    });
    expect(stderr).toMatch(/First copy your one-time code: [A-Z]{4}-[A-Z]{4}/);
    const page = await browser.newPage();
    await page.goto(verification);
    await signInAtProvider(page, idp.issuer, 'alice');
    const code = await new Promise<number | null>((resolve) => login.once('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toBe(`Signed in to ${stack.url} as alice (approver).\n`);
    const saved = path.join(laptop.XDG_CONFIG_HOME, 'patchflow', 'credentials.json');
    expect(statSync(saved).mode & 0o777).toBe(0o600);

    expect((await onLaptop('whoami')).stdout).toBe('alice (approver); scopes read, approve\n');
    const start = await onLaptop('cycle', 'start', '--demo');
    expect(start.status).toBe(1);
    expect(start.stderr).toMatch(/alice may not start a patch cycle: needs the coordinator role \(has approver\)/);

    expect((await onLaptop('logout')).stdout).toBe(`Signed out of ${stack.url}.\n`);
    const after = await onLaptop('whoami');
    expect(after.status).toBe(1);
    expect(after.stderr).toMatch(/sign in first: .*patchflow login/);
    await page.close();
  });

  it('accepts the provider’s access tokens only with its signature, its issuer, the API audience and unexpired', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'alice', preferred_username: 'alice', groups: ['patchflow-cab'], iat: now };
    const good = await idp.sign({ ...claims, iss: idp.issuer, aud: PROVIDER_AUDIENCE, exp: now + 300 });
    expect(await asBearer(good)).toMatchObject({ status: 200, body: { userId: 'alice' } });

    const expired = await asBearer(
      await idp.sign({ ...claims, iss: idp.issuer, aud: PROVIDER_AUDIENCE, exp: now - 60 }),
    );
    expect(expired.status).toBe(401);
    expect(expired.body.error?.message).toMatch(/^the access token expired at /);

    const otherAudience = await asBearer(
      await idp.sign({ ...claims, iss: idp.issuer, aud: 'api://another-app', exp: now + 300 }),
    );
    expect(otherAudience.status).toBe(401);
    expect(otherAudience.body.error?.message).toMatch(/"aud" claim is not accepted/);

    const otherIssuer = await asBearer(
      await idp.sign({ ...claims, iss: 'https://login.example.net', aud: PROVIDER_AUDIENCE, exp: now + 300 }),
    );
    expect(otherIssuer.status).toBe(401);
    expect(otherIssuer.body.error?.message).toMatch(/"iss" claim is not accepted/);

    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ ...claims, iss: idp.issuer, aud: PROVIDER_AUDIENCE, exp: now + 300 })
      .setProtectedHeader({ alg: 'RS256', kid: 'provider-key-1' })
      .sign(privateKey);
    const forgedAnswer = await asBearer(forged);
    expect(forgedAnswer.status).toBe(401);
    expect(forgedAnswer.body.error?.message).toBe("the access token's signature does not match the provider's keys");

    const reasons = (await stack.ctx.db('audit_events').where({ action: 'auth.refused' })).map(
      (e: { data: { reason: string } }) => e.data.reason,
    );
    expect(reasons).toEqual(expect.arrayContaining([expect.stringMatching(/^the access token expired at/)]));
  });
});
