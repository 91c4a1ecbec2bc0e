import { z } from 'zod';
import { PatchflowError } from '../kernel/errors.ts';

/** The CLI talks to the running server, so that every write passes the same validation, roles and audit. */
export function serverUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['PATCHFLOW_URL'] ?? `http://127.0.0.1:${env['PATCHFLOW_HTTP_PORT'] ?? '8080'}`;
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
  init: { headers?: Record<string, string>; rawBody?: BodyInit } = {},
): Promise<T> {
  const base = serverUrl();
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
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
