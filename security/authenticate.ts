import type { Knex } from 'knex';
import { appendAudit } from '../db/repositories/audit.ts';
import { UnauthenticatedError } from '../kernel/errors.ts';
import { principalFromIdentity, type OidcAuthority } from './oidc.ts';
import type { Principal } from './principal.ts';
import { principalFromToken } from './tokens.ts';

/** How often one source's failed sign-ins are written to the audit trail; the rest are counted into the next row. */
const REFUSAL_AUDIT_INTERVAL_MS = 60_000;

/** How a refusal is written: who stands for the unknown caller, and the audit action. */
export interface RefusalKind {
  actor: string;
  action: string;
  subjectType: string;
}
const apiRefusal: RefusalKind = { actor: 'anonymous', action: 'auth.refused', subjectType: 'source' };

/**
 * Audits refused credentials without letting a flood (a scanner, forged Slack or Teams requests, a
 * misconfigured script) grow the hash chain by one row per request: per source, kind and reason,
 * one row a minute, which counts the refusals it stood for since the row before.
 */
export class RefusalAuditor {
  private readonly lastWritten = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly db: Knex,
    private readonly now: () => number = Date.now,
  ) {}

  async refused(
    source: string,
    reason: string,
    data: Record<string, unknown> = {},
    kind: RefusalKind = apiRefusal,
  ): Promise<void> {
    const key = [kind.action, source, reason].join('\u0000');
    const seen = this.lastWritten.get(key);
    const now = this.now();
    if (seen && now - seen.at < REFUSAL_AUDIT_INTERVAL_MS) {
      seen.suppressed += 1;
      return;
    }
    this.lastWritten.set(key, { at: now, suppressed: 0 });
    await appendAudit(this.db, {
      actor: kind.actor,
      action: kind.action,
      subjectType: kind.subjectType,
      subjectId: source,
      data: { reason, ...data, ...(seen?.suppressed ? { alsoRefusedSinceLastRow: seen.suppressed } : {}) },
    });
  }
}

const SIGN_IN_HINT =
  'send Authorization: Bearer <token> (`patchflow login`, or an API token from `patchflow tokens create`; in local mode the CLI uses the tokens in the data directory)';

/** A compact JWS: three base64url parts. Patchflow's own tokens start with pf_ and never match. */
const JWT_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * The principal a request's credential stands for: a Patchflow API token (or the dashboard's
 * session, which is one), or an access token from the configured OpenID provider.
 */
export async function authenticate(db: Knex, credential: string | undefined, oidc?: OidcAuthority): Promise<Principal> {
  if (!credential) throw new UnauthenticatedError(`sign in first: ${SIGN_IN_HINT}`);
  if (JWT_PATTERN.test(credential)) {
    if (!oidc)
      throw new UnauthenticatedError(
        'a provider access token was sent, but no OpenID provider is configured (PATCHFLOW_OIDC_ISSUER)',
      );
    return principalFromIdentity(db, await oidc.verifyAccessToken(credential));
  }
  return principalFromToken(db, credential);
}
