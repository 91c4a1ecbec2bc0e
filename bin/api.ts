import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PatchflowError } from '../kernel/errors.ts';
import { signedInToken } from './sign-in.ts';

/** The CLI talks to the running server, so that every write passes the same validation, roles and audit. */
export function serverUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['PATCHFLOW_URL'] ?? `http://127.0.0.1:${env['PATCHFLOW_HTTP_PORT'] ?? '8080'}`;
}

/** Mirrors security/local.ts: the CLI reads the file without loading the server's modules. */
const LOCAL_TOKENS_FILE = 'local-tokens.json';
const localTokensSchema = z.object({ tokens: z.record(z.string(), z.string()) });

let localIdentity: string | undefined;
/** `--as <user>`: act as that local user with their token from the data directory (local mode only). */
export function actAs(user: string): void {
  localIdentity = user;
}
let localDefault: string | undefined;
/**
 * The local user to act as when nothing else names one (no --as, PATCHFLOW_TOKEN or sign-in):
 * the demo's commands act as its coordinator, as the README shows.
 */
export function actLocallyByDefaultAs(user: string): void {
  localDefault = user;
}

/**
 * The bearer token for this call, first found of: the local token of the `--as` user (local mode);
 * PATCHFLOW_TOKEN (a personal or service token); the sign-in `patchflow login` saved for this
 * server; the local admin's token from the data directory.
 */
export async function credential(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const token = env['PATCHFLOW_TOKEN'];
  if (token) {
    if (localIdentity)
      throw new PatchflowError(
        `--as ${localIdentity} works only with the local tokens; unset PATCHFLOW_TOKEN, or drop --as to act as the token's owner`,
        { code: 'usage' },
      );
    return token;
  }
  if (!localIdentity) {
    const signedIn = await signedInToken(env, serverUrl(env));
    if (signedIn) return signedIn;
  }
  const file = path.join(env['PATCHFLOW_DATA_DIR'] ?? '.patchflow', LOCAL_TOKENS_FILE);
  if (!existsSync(file)) {
    if (localIdentity)
      throw new PatchflowError(
        `--as ${localIdentity}: no local tokens at ${file}; start the server here with \`npm start\``,
        {
          code: 'usage',
        },
      );
    return undefined;
  }
  const { tokens } = localTokensSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const user = localIdentity ?? localDefault ?? 'admin';
  const found = tokens[user];
  if (!found)
    throw new PatchflowError(
      `no local token for "${user}" in ${file} (local users: ${Object.keys(tokens).join(', ')}); restart the server after adding them, or set PATCHFLOW_TOKEN`,
      { code: 'usage' },
    );
  return found;
}

const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })).default([]),
  }),
});

export class ApiError extends PatchflowError {
  readonly status: number;
  constructor(
    status: number,
    code: string,
    message: string,
    details: { path: (string | number)[]; message: string }[],
  ) {
    super(message, { code, details });
    this.name = 'ApiError';
    this.status = status;
  }
}

export async function apiRequest<T = unknown>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  init: { headers?: Record<string, string>; rawBody?: BodyInit; anonymous?: boolean } = {},
): Promise<T> {
  const base = serverUrl();
  const token = init.anonymous ? undefined : await credential();
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...init.headers,
      },
      body: init.rawBody ?? (body !== undefined ? JSON.stringify(body) : undefined),
      ...(init.rawBody ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (err) {
    throw new PatchflowError(
      `cannot reach the Patchflow server at ${base} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); start it with \`npm start\` or set PATCHFLOW_URL`,
      { code: 'unreachable' },
    );
  }
  const text = await res.text();
  const json: unknown = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const parsed = errorBodySchema.safeParse(json);
    if (parsed.success)
      throw new ApiError(res.status, parsed.data.error.code, parsed.data.error.message, parsed.data.error.details);
    throw new ApiError(res.status, 'http_error', `${method} ${path} answered ${res.status}`, []);
  }
  return json as T;
}
