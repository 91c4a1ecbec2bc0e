import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';
import type { Page } from 'playwright-core';

/** A person the provider knows: `login` is what they type at its sign-in page. */
export interface ProviderAccount {
  login: string;
  name: string;
  groups: string[];
}

export interface IdentityProvider {
  issuer: string;
  /** The API audience its access tokens carry, as an Entra app ID URI would be. */
  audience: string;
  /** Makes the provider live, with the dashboard's client sending browsers back to `dashboardUrl`. */
  open(dashboardUrl: string): Promise<void>;
  /**
   * Signs `claims` with the provider's own key (after `open`), to make tokens it would never issue:
   * expired, for another audience, naming another issuer.
   */
  sign(claims: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

export const PROVIDER_AUDIENCE = 'api://patchflow';
export const DASHBOARD_CLIENT = { id: 'patchflow-dashboard', secret: 'dashboard-secret-for-tests' };
export const CLI_CLIENT = 'patchflow-cli';

/**
 * The certified `oidc-provider`, started in the test: authorization code with PKCE required for the
 * dashboard's confidential client, the device authorization grant (RFC 8628) for the CLI's public
 * client, and JWT access tokens for the Patchflow API audience carrying the person's name and
 * groups, as Entra ID, Okta and Keycloak issue them. Its own pages (the "dev interactions") stand
 * in for the company's sign-in page. The port is taken first, so that the issuer is known before
 * the Patchflow server whose URL the client registration needs.
 */
export async function startIdentityProvider(
  accounts: ProviderAccount[],
  opts: { accessTokenTtlSeconds?: number } = {},
): Promise<IdentityProvider> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  let handler: RequestListener = (_req, res) => res.writeHead(503).end('not open yet');
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const byLogin = new Map(accounts.map((a) => [a.login, a]));
  const claimsOf = (login: string) => {
    const a = byLogin.get(login);
    return a
      ? { preferred_username: a.login, name: a.name, groups: a.groups }
      : { preferred_username: login, groups: [] };
  };

  return {
    issuer,
    audience: PROVIDER_AUDIENCE,
    sign: (claims) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'provider-key-1', typ: 'at+jwt' }).sign(privateKey),
    async open(dashboardUrl: string) {
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: DASHBOARD_CLIENT.id,
            client_secret: DASHBOARD_CLIENT.secret,
            redirect_uris: [`${dashboardUrl}/auth/oidc/callback`],
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
          {
            client_id: CLI_CLIENT,
            token_endpoint_auth_method: 'none',
            grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
            response_types: [],
            redirect_uris: [],
          },
        ],
        jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'provider-key-1', alg: 'RS256', use: 'sig' }] },
        cookies: { keys: ['cookie-key-for-tests'] },
        pkce: { required: () => true },
        claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'groups'] },
        // Entra and Keycloak put the profile into the ID token; say so here too.
        conformIdTokenClaims: false,
        findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, ...claimsOf(id) }) }),
        extraTokenClaims: (_ctx, token) => ('accountId' in token && token.accountId ? claimsOf(token.accountId) : {}),
        ttl: {
          AccessToken: opts.accessTokenTtlSeconds ?? 3600,
          IdToken: 3600,
          Session: 3600,
          Grant: 3600,
          Interaction: 600,
          DeviceCode: 600,
        },
        features: {
          devInteractions: { enabled: true },
          deviceFlow: { enabled: true },
          revocation: { enabled: true },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => PROVIDER_AUDIENCE,
            useGrantedResource: () => true,
            getResourceServerInfo: () => ({
              scope: 'patchflow',
              audience: PROVIDER_AUDIENCE,
              accessTokenFormat: 'jwt',
              accessTokenTTL: opts.accessTokenTtlSeconds ?? 3600,
            }),
          },
        },
      });
      handler = provider.callback() as RequestListener;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Signs in at the provider's own pages as a person would: the device code page when there is
 * one, the login form, the consent. Stops once the browser has left the provider.
 */
export async function signInAtProvider(page: Page, issuer: string, login: string): Promise<void> {
  for (let step = 0; step < 8; step += 1) {
    await page.waitForLoadState('domcontentloaded');
    if (!page.url().startsWith(issuer) || (await page.getByText('Sign-in Success').count()) > 0) return;
    const loginField = page.locator('input[name="login"]');
    if (await loginField.count()) {
      await loginField.fill(login);
      await page.locator('input[name="password"]').fill('any password');
    }
    // Playwright's click waits for the navigation it starts.
    await page.locator('button[type="submit"]:not([name="abort"])').first().click();
  }
  throw new Error(`still at the provider after 8 steps: ${page.url()}`);
}
