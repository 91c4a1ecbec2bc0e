import type { Knex } from 'knex';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { z } from 'zod';
import { appendAudit } from '../db/repositories/audit.ts';
import { roleSchema, syncUserFromIdentity, type Role } from '../db/repositories/users.ts';
import { NotAllowedError, UnauthenticatedError } from '../kernel/errors.ts';
import { principalFor, type Principal } from './principal.ts';

/**
 * `claim value → names`, as JSON (`{"cab":["approver"]}`) or, for environment variables,
 * `cab=approver;patch-admins=admin+coordinator`.
 */
function claimMapSchema<T extends z.ZodType<string>>(name: T) {
  return z.preprocess(
    (v) =>
      typeof v === 'string' && !v.trim().startsWith('{')
        ? Object.fromEntries(
            v
              .split(';')
              .map((pair) => pair.trim())
              .filter(Boolean)
              .map((pair) => {
                const [claim, names = ''] = pair.split('=');
                return [claim!.trim(), names.split('+').map((n) => n.trim())];
              }),
          )
        : typeof v === 'string'
          ? JSON.parse(v)
          : v,
    z.record(z.string().min(1), z.array(name).min(1)),
  );
}

export const oidcSettingsSchema = z
  .object({
    /** The provider's issuer URL, e.g. https://login.microsoftonline.com/<tenant>/v2.0. */
    issuer: z.url(),
    /** The dashboard's client (authorization code + PKCE). */
    clientId: z.string().min(1),
    /** Set for a confidential web client; unset means a public client that proves itself with PKCE alone. */
    clientSecret: z.string().min(1).optional(),
    /** The CLI's public client for the device flow (`patchflow login`); default: clientId. */
    cliClientId: z.string().min(1).optional(),
    /** The `aud` a bearer access token must carry; default: clientId. */
    audience: z.string().min(1).optional(),
    /** Asked for at sign-in; add the API scope your provider needs for access tokens meant for Patchflow. */
    scope: z.string().min(1).default('openid profile email'),
    /** The claim that names the Patchflow user. */
    userClaim: z.string().min(1).default('preferred_username'),
    /** The claim whose values (groups or app roles) map to Patchflow roles and approver groups. */
    rolesClaim: z.string().min(1).default('groups'),
    roleMap: claimMapSchema(roleSchema),
    /** Claim values that put the person in Patchflow approver groups (CAB, emergency, escalation). */
    groupMap: claimMapSchema(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a group name')).default({}),
  })
  .strict();
export type OidcSettings = z.infer<typeof oidcSettingsSchema>;

/** Who a provider's claims say the person is, mapped onto Patchflow. */
export interface ProviderIdentity {
  userId: string;
  displayName: string;
  roles: Role[];
  groups: string[];
  /** The claim values seen, so that a refusal can say what it had. */
  claimValues: string[];
}

/** Maps a provider's claims to a Patchflow user; refuses a person none of whose claim values grants a role. */
export function identityFromClaims(settings: OidcSettings, claims: JWTPayload): ProviderIdentity {
  const user = claims[settings.userClaim];
  if (typeof user !== 'string' || !user)
    throw new UnauthenticatedError(
      `the provider's token has no "${settings.userClaim}" claim to name the user (set PATCHFLOW_OIDC_USER_CLAIM)`,
    );
  const raw = claims[settings.rolesClaim];
  const claimValues = (Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/[ ,]+/) : []).filter(
    (v): v is string => typeof v === 'string' && v.length > 0,
  );
  const roles = [...new Set(claimValues.flatMap((v) => settings.roleMap[v] ?? []))].sort();
  const groups = [...new Set(claimValues.flatMap((v) => settings.groupMap[v] ?? []))].sort();
  if (roles.length === 0)
    throw new NotAllowedError(
      `${user} signed in, but none of their "${settings.rolesClaim}" (${claimValues.join(', ') || 'none'}) maps to a Patchflow role; mapped are ${Object.keys(settings.roleMap).join(', ')}`,
    );
  const name = claims['name'];
  return { userId: user, displayName: typeof name === 'string' && name ? name : user, roles, groups, claimValues };
}

/** Why jose refused a token, as a person reads it. */
function refusalOf(err: unknown): UnauthenticatedError {
  if (err instanceof joseErrors.JWTExpired)
    return new UnauthenticatedError(
      `the access token expired at ${new Date(Number(err.payload.exp) * 1000).toISOString()}`,
    );
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return new UnauthenticatedError(`the access token's "${err.claim}" claim is not accepted: ${err.reason}`);
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWSSignatureVerificationFailed)
    return new UnauthenticatedError("the access token's signature does not match the provider's keys");
  if (err instanceof joseErrors.JOSEError)
    return new UnauthenticatedError(`the access token is not valid: ${err.message}`);
  throw err;
}

const isLoopback = (url: URL) => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);

/**
 * The provider's configuration as one client sees it (discovery). Plain HTTP is allowed only for
 * a provider on this machine (a test, a dev Keycloak), never across a network. The server's
 * clients and the CLI's device flow both come through here.
 */
export function discoverProvider(
  issuer: string,
  clientId: string,
  auth: client.ClientAuth = client.None(),
): Promise<client.Configuration> {
  const url = new URL(issuer);
  return client.discovery(
    url,
    clientId,
    undefined,
    auth,
    isLoopback(url) ? { execute: [client.allowInsecureRequests] } : {},
  );
}

/**
 * Patchflow's view of one OpenID provider: discovery (retried until it answers), the dashboard's
 * sign-in (authorization code + PKCE), the CLI's device flow, and bearer access tokens checked
 * against the provider's JWKS (cached; an unknown key id fetches it again, so rotation just works).
 */
export class OidcAuthority {
  private discovered: Promise<{ web: client.Configuration; cli: client.Configuration }> | undefined;
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(readonly settings: OidcSettings) {}

  private configurations() {
    this.discovered ??= (async () => {
      const { issuer, clientId, clientSecret, cliClientId } = this.settings;
      const web = await discoverProvider(
        issuer,
        clientId,
        clientSecret ? client.ClientSecretBasic(clientSecret) : client.None(),
      );
      const cli = await discoverProvider(issuer, cliClientId ?? clientId);
      return { web, cli };
    })().catch((err: unknown) => {
      this.discovered = undefined;
      throw new UnauthenticatedError(
        `the OpenID provider ${this.settings.issuer} did not answer discovery: ${(err as Error).message}`,
      );
    });
    return this.discovered;
  }

  /**
   * Starts a browser sign-in: the provider URL to send the browser to, and what the callback must
   * check. The provider sends the browser back to `<publicUrl>/auth/oidc/callback`.
   */
  async beginSignIn(
    publicUrl: string,
  ): Promise<{ url: string; checks: { verifier: string; state: string; nonce: string } }> {
    const { web } = await this.configurations();
    const verifier = client.randomPKCECodeVerifier();
    const checks = { verifier, state: client.randomState(), nonce: client.randomNonce() };
    const url = client.buildAuthorizationUrl(web, {
      redirect_uri: new URL('/auth/oidc/callback', publicUrl).toString(),
      scope: this.settings.scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
    });
    return { url: url.toString(), checks };
  }

  /**
   * Finishes a browser sign-in: exchanges the code (with the PKCE verifier; the redirect URI is the
   * callback URL without its query) and maps the ID token's claims, asking userinfo for those the
   * provider keeps out of ID tokens.
   */
  async completeSignIn(
    callbackUrl: URL,
    checks: { verifier: string; state: string; nonce: string },
  ): Promise<ProviderIdentity> {
    const { web } = await this.configurations();
    let claims: JWTPayload | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(web, callbackUrl, {
        pkceCodeVerifier: checks.verifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
      });
      claims = tokens.claims();
      if (claims && (claims[this.settings.userClaim] === undefined || claims[this.settings.rolesClaim] === undefined))
        claims = {
          ...(await client.fetchUserInfo(web, tokens.access_token, claims.sub ?? client.skipSubjectCheck)),
          ...claims,
        };
    } catch (err) {
      throw new UnauthenticatedError(`the sign-in did not complete: ${(err as Error).message}`);
    }
    if (!claims) throw new UnauthenticatedError('the provider returned no ID token');
    return identityFromClaims(this.settings, claims);
  }

  /** What the CLI needs to run the device flow itself against the provider. */
  async cliSettings(): Promise<{ issuer: string; clientId: string; scope: string }> {
    const { cli } = await this.configurations();
    return {
      issuer: cli.serverMetadata().issuer,
      clientId: cli.clientMetadata().client_id,
      scope: this.settings.scope,
    };
  }

  /** Checks a bearer access token's signature, issuer, audience and expiry, and maps its claims. */
  async verifyAccessToken(token: string): Promise<ProviderIdentity> {
    const { web } = await this.configurations();
    const metadata = web.serverMetadata();
    if (!metadata.jwks_uri) throw new UnauthenticatedError(`${metadata.issuer} publishes no jwks_uri`);
    this.jwks ??= createRemoteJWKSet(new URL(metadata.jwks_uri));
    const verified = await jwtVerify(token, this.jwks, {
      issuer: metadata.issuer,
      audience: this.settings.audience ?? this.settings.clientId,
    }).catch((err: unknown) => {
      throw refusalOf(err);
    });
    return identityFromClaims(this.settings, verified.payload);
  }
}

/**
 * The provider's word on who someone is becomes their Patchflow user: roles and approver groups
 * follow the provider at every sign-in (chat identities, which an admin sets, are kept). A change
 * of roles is audited.
 */
export async function principalFromIdentity(db: Knex, identity: ProviderIdentity): Promise<Principal> {
  const { user, previousRoles } = await syncUserFromIdentity(db, identity);
  if (previousRoles?.join() !== user.roles.join())
    await appendAudit(db, {
      actor: 'oidc',
      action: 'user.roles-from-provider',
      subjectType: 'user',
      subjectId: user.id,
      data: { roles: user.roles, groups: user.groups, previousRoles, claimValues: identity.claimValues },
    });
  return principalFor(user, 'oidc');
}
