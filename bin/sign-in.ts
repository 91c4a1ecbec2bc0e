import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { z } from 'zod';
import { PatchflowError } from '../kernel/errors.ts';
import { discoverProvider } from '../security/oidc.ts';

/**
 * `patchflow login`'s credentials, per server, in the user's config directory (mode 0600), as
 * `gh` and `az` keep theirs: the provider's access token and, when it gave one, a refresh token.
 */
const savedSchema = z.object({
  issuer: z.string(),
  clientId: z.string(),
  accessToken: z.string(),
  refreshToken: z.string().optional(),
  /** ISO time the access token stops working. */
  expiresAt: z.string().optional(),
});
type Saved = z.infer<typeof savedSchema>;
const fileSchema = z.object({ servers: z.record(z.string(), savedSchema) });

export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CONFIG_HOME'] || path.join(env['HOME'] ?? os.homedir(), '.config');
  return path.join(base, 'patchflow', 'credentials.json');
}

function readAll(env: NodeJS.ProcessEnv): z.infer<typeof fileSchema> {
  const file = credentialsFile(env);
  if (!existsSync(file)) return { servers: {} };
  const parsed = fileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success)
    throw new PatchflowError(`${file} is damaged; delete it and run \`patchflow login\` again`, { code: 'usage' });
  return parsed.data;
}

function writeAll(env: NodeJS.ProcessEnv, all: z.infer<typeof fileSchema>): void {
  const file = credentialsFile(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function saveSignIn(env: NodeJS.ProcessEnv, server: string, saved: Saved): void {
  const all = readAll(env);
  all.servers[server] = saved;
  writeAll(env, all);
}

/** Forgets the sign-in to `server`; says whether there was one. */
export function forgetSignIn(env: NodeJS.ProcessEnv, server: string): Saved | undefined {
  const all = readAll(env);
  const saved = all.servers[server];
  if (!saved) return undefined;
  delete all.servers[server];
  writeAll(env, all);
  return saved;
}

export function savedFromTokens(
  issuer: string,
  clientId: string,
  tokens: client.TokenEndpointResponse,
  previous?: Saved,
): Saved {
  const refreshToken = tokens.refresh_token ?? previous?.refreshToken;
  return {
    issuer,
    clientId,
    accessToken: tokens.access_token,
    ...(refreshToken ? { refreshToken } : {}),
    ...(tokens.expires_in ? { expiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString() } : {}),
  };
}

/**
 * The access token of the sign-in to `server`, refreshed when it has run out and a refresh token
 * is at hand; undefined when there is no sign-in.
 */
export async function signedInToken(env: NodeJS.ProcessEnv, server: string): Promise<string | undefined> {
  const saved = readAll(env).servers[server];
  if (!saved) return undefined;
  // A minute's margin, so that a token does not run out between here and the server.
  if (!saved.expiresAt || Date.parse(saved.expiresAt) - 60_000 > Date.now()) return saved.accessToken;
  if (!saved.refreshToken)
    throw new PatchflowError(`your sign-in to ${server} expired at ${saved.expiresAt}; run \`patchflow login\` again`, {
      code: 'usage',
    });
  try {
    const config = await discoverProvider(saved.issuer, saved.clientId);
    const refreshed = savedFromTokens(
      saved.issuer,
      saved.clientId,
      await client.refreshTokenGrant(config, saved.refreshToken),
      saved,
    );
    saveSignIn(env, server, refreshed);
    return refreshed.accessToken;
  } catch (err) {
    throw new PatchflowError(
      `your sign-in to ${server} expired and could not be renewed (${(err as Error).message}); run \`patchflow login\` again`,
      { code: 'usage' },
    );
  }
}
