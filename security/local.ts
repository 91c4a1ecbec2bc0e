import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { z } from 'zod';
import { findUser, upsertUser, type UserInput } from '../db/repositories/users.ts';
import { createToken, principalFromToken } from './tokens.ts';
import { scopesFor } from './principal.ts';

/** Where local mode keeps each local user's API token, readable by the owner only (0600). */
export const LOCAL_TOKENS_FILE = 'local-tokens.json';
/** The administrator local mode creates, so that the first start can add the real people. */
export const LOCAL_ADMIN: UserInput = { id: 'admin', displayName: 'Local administrator', roles: ['admin'] };
const LOCAL_TOKEN_NAME = 'local';

const localTokensSchema = z.object({ tokens: z.record(z.string(), z.string()) });

export function localTokensPath(dataDir: string): string {
  return path.join(dataDir, LOCAL_TOKENS_FILE);
}

/** The local tokens by user id; empty when the file is missing. */
export function readLocalTokens(dataDir: string): Record<string, string> {
  const file = localTokensPath(dataDir);
  if (!existsSync(file)) return {};
  return localTokensSchema.parse(JSON.parse(readFileSync(file, 'utf8'))).tokens;
}

/**
 * Local mode's credentials: the local admin (created when missing) and each of `users` that
 * exists get a token named "local", kept in the data directory with mode 0600, so that the CLI on
 * this machine can act as them (`--as carol`). A token that still works is kept; a lost or revoked
 * one is replaced.
 */
export async function ensureLocalTokens(
  db: Knex,
  dataDir: string,
  users: readonly Pick<UserInput, 'id'>[] = [],
): Promise<Record<string, string>> {
  if (!(await findUser(db, LOCAL_ADMIN.id))) await upsertUser(db, LOCAL_ADMIN);
  const known = readLocalTokens(dataDir);
  const tokens: Record<string, string> = {};
  for (const candidate of [LOCAL_ADMIN, ...users]) {
    const user = await findUser(db, candidate.id);
    if (!user) continue;
    const kept = known[user.id];
    if (
      kept &&
      (await principalFromToken(db, kept).then(
        () => true,
        () => false,
      ))
    ) {
      tokens[user.id] = kept;
      continue;
    }
    await db('api_tokens').where({ user_id: user.id, name: LOCAL_TOKEN_NAME }).delete();
    const made = await createToken(
      db,
      { userId: LOCAL_ADMIN.id },
      {
        userId: user.id,
        name: LOCAL_TOKEN_NAME,
        scopes: scopesFor(user),
      },
    );
    tokens[user.id] = made.token;
  }
  mkdirSync(dataDir, { recursive: true });
  const file = localTokensPath(dataDir);
  writeFileSync(file, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: 0o600 });
  // writeFileSync keeps the mode of a file that already exists.
  chmodSync(file, 0o600);
  return tokens;
}
