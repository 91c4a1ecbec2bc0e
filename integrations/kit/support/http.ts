import type { z } from 'zod';
import {
  InputError,
  NotAllowedError,
  NotFoundError,
  UpstreamError,
  type PatchflowError,
} from '../../../kernel/errors.ts';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  status: number;
  text: string;
}

/**
 * One HTTP exchange with a vendor system. Connection refused, resets and timeouts become
 * retryable UpstreamErrors; the caller's own abort is rethrown as it is, so that cancellation
 * is never mistaken for an outage and retried.
 */
export async function sendHttp(what: string, req: HttpRequest): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  try {
    const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, signal });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason;
    if (timeout.aborted)
      throw new UpstreamError(`${what}: no answer from ${origin(req.url)} within ${req.timeoutMs} ms`, { cause: err });
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    throw new UpstreamError(`${what}: cannot reach ${origin(req.url)} (${cause})`, { cause: err });
  }
}

/**
 * The vendor's refusal in our terms: what retrying cannot fix (bad credentials, a missing
 * object, an invalid request) is not retryable; throttling, timeouts and 5xx are.
 */
export function errorForStatus(what: string, status: number, detail: string): PatchflowError {
  const text = `${what}: HTTP ${status}${detail ? ` — ${detail.slice(0, 300)}` : ''}`;
  if (status === 401) return new NotAllowedError(`${text} (the credentials were rejected)`);
  if (status === 403) return new NotAllowedError(text);
  if (status === 404) return new NotFoundError(text);
  if (status === 408 || status === 429 || status >= 500) return new UpstreamError(text);
  return new InputError(text);
}

/**
 * Sends a request and validates the JSON answer against `schema`; an answer of the wrong shape is a
 * vendor fault no retry fixes. `errorDetail` turns the vendor's error body into a readable reason.
 */
export async function requestJson<S extends z.ZodType>(
  what: string,
  req: HttpRequest,
  schema: S,
  errorDetail: (body: string) => string = (body) => body,
): Promise<z.output<S>> {
  const res = await sendHttp(what, req);
  if (res.status < 200 || res.status > 299) throw errorForStatus(what, res.status, errorDetail(res.text));
  let json: unknown;
  try {
    json = res.text === '' ? undefined : JSON.parse(res.text);
  } catch (err) {
    throw new UpstreamError(`${what}: the answer is not JSON`, { retryable: false, cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new UpstreamError(`${what}: unexpected answer (${issues})`, { retryable: false });
  }
  return parsed.data;
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
