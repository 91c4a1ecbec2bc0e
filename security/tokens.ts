import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { appendAudit } from '../db/repositories/audit.ts';
import { findUser } from '../db/repositories/users.ts';
import { ConflictError, InputError, NotFoundError, UnauthenticatedError, isUniqueViolation } from '../kernel/errors.ts';
import { parseInput } from '../kernel/validate.ts';
import { principalFor, scopeSchema, scopesFor, type Principal, type Scope } from './principal.ts';

/** `pf_<id>_<secret>`: the id finds the row, the secret proves the holder. */
const TOKEN_PATTERN = /^pf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export const tokenRequestSchema = z
  .object({
    /** Whose token; unset means the caller's own. Only an admin makes tokens for others (service accounts). */
    userId: z.string().min(1).optional(),
    name: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9 ._:-]+$/, 'letters, digits, spaces and . _ : -'),
    scopes: z.array(scopeSchema).min(1, 'at least one scope: read, operate, approve or admin'),
    /** When it stops working; unset never expires (service tokens), so set one for personal tokens. */
    expiresAt: z.iso
      .datetime({ offset: true })
      .refine((t) => Date.parse(t) > Date.now(), 'must lie in the future')
      .optional(),
  })
  .strict();
export type TokenRequest = z.input<typeof tokenRequestSchema>;

export interface TokenInfo {
  id: string;
  userId: string;
  name: string;
  scopes: Scope[];
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface TokenRow {
  id: string;
  user_id: string;
  name: string;
  scopes: Scope[];
  secret_hash: string;
  created_by: string;
  created_at: Date | string;
  expires_at: Date | string | null;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const fromRow = (r: TokenRow): TokenInfo => ({
  id: r.id,
  userId: r.user_id,
  name: r.name,
  scopes: r.scopes,
  createdBy: r.created_by,
  createdAt: iso(r.created_at)!,
  expiresAt: iso(r.expires_at),
  lastUsedAt: iso(r.last_used_at),
  revokedAt: iso(r.revoked_at),
});
const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

/**
 * Makes a token for `request.userId` (default: the caller) with at most the scopes that user's
 * roles allow. Returns the token itself, which is not stored and cannot be shown again.
 */
export async function createToken(
  db: Knex,
  creator: Pick<Principal, 'userId'>,
  body: unknown,
): Promise<{ token: string; info: TokenInfo }> {
  const req = parseInput(tokenRequestSchema, body, 'token request');
  const userId = req.userId ?? creator.userId;
  const user = await findUser(db, userId);
  if (!user) throw new InputError(`unknown user "${userId}"`, [{ path: ['userId'], message: 'unknown user' }]);
  const beyond = req.scopes.filter((s) => !scopesFor(user).includes(s));
  if (beyond.length)
    throw new InputError(`${userId}'s roles (${user.roles.join(', ')}) do not allow the ${beyond.join(', ')} scope`, [
      { path: ['scopes'], message: `not allowed for ${userId}: ${beyond.join(', ')}` },
    ]);
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  try {
    const info = await db.transaction(async (trx) => {
      const [row] = (await trx('api_tokens')
        .insert({
          id,
          user_id: userId,
          name: req.name,
          scopes: req.scopes,
          secret_hash: hashOf(secret),
          created_by: creator.userId,
          expires_at: req.expiresAt ?? null,
        })
        .returning('*')) as TokenRow[];
      await appendAudit(trx, {
        actor: creator.userId,
        action: 'token.created',
        subjectType: 'user',
        subjectId: userId,
        data: { tokenId: id, name: req.name, scopes: req.scopes, expiresAt: req.expiresAt ?? null },
      });
      return fromRow(row!);
    });
    return { token: `pf_${id}_${secret}`, info };
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(`${userId} already has a token named "${req.name}"`);
    throw err;
  }
}

export async function listTokens(db: Knex, userId?: string): Promise<TokenInfo[]> {
  const q = db('api_tokens').orderBy([{ column: 'user_id' }, { column: 'created_at' }]);
  if (userId) void q.where({ user_id: userId });
  return ((await q) as TokenRow[]).map(fromRow);
}

export async function findToken(db: Knex, id: string): Promise<TokenInfo> {
  const row = (await db('api_tokens').where({ id }).first()) as TokenRow | undefined;
  if (!row) throw new NotFoundError(`no token ${id}`);
  return fromRow(row);
}

/** Revokes a token at once; revoking one already revoked changes nothing. */
export async function revokeToken(db: Knex, actor: Pick<Principal, 'userId'>, id: string): Promise<TokenInfo> {
  return db.transaction(async (trx) => {
    const [row] = (await trx('api_tokens')
      .where({ id })
      .update({ revoked_at: trx.raw('coalesce(revoked_at, now())') })
      .returning('*')) as TokenRow[];
    if (!row) throw new NotFoundError(`no token ${id}`);
    await appendAudit(trx, {
      actor: actor.userId,
      action: 'token.revoked',
      subjectType: 'user',
      subjectId: row.user_id,
      data: { tokenId: id, name: row.name },
    });
    return fromRow(row);
  });
}

/** The id part of a Patchflow token (its row), or undefined for anything else. */
export function tokenId(token: string): string | undefined {
  return TOKEN_PATTERN.exec(token)?.[1];
}

/** The principal a bearer token stands for; refuses unknown, malformed, expired and revoked tokens alike in kind. */
export async function principalFromToken(db: Knex, token: string): Promise<Principal> {
  const match = TOKEN_PATTERN.exec(token);
  if (!match) throw new UnauthenticatedError('the bearer token is not a Patchflow API token (pf_…)');
  const [, id, secret] = match as unknown as [string, string, string];
  const row = (await db('api_tokens').where({ id }).first()) as TokenRow | undefined;
  const given = Buffer.from(hashOf(secret));
  if (!row || !timingSafeEqual(given, Buffer.from(row.secret_hash)))
    throw new UnauthenticatedError('unknown API token');
  if (row.revoked_at) throw new UnauthenticatedError(`API token ${id} was revoked at ${iso(row.revoked_at)}`);
  if (row.expires_at && Date.parse(iso(row.expires_at)!) <= Date.now())
    throw new UnauthenticatedError(`API token ${id} expired at ${iso(row.expires_at)}`);
  const user = await findUser(db, row.user_id);
  if (!user) throw new UnauthenticatedError(`API token ${id} belongs to a user who no longer exists`);
  await db('api_tokens').where({ id }).update({ last_used_at: db.fn.now() });
  return principalFor(user, 'token', row.scopes);
}
