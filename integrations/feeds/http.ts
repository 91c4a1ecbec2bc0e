import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { durationMs, durationSchema } from '../../kernel/duration.ts';
import { UpstreamError } from '../../kernel/errors.ts';
import type { FeedSyncState } from '../contract/index.ts';

/**
 * The one HTTP path every feed uses: conditional GETs, bounded retries that honour Retry-After,
 * gzip bodies and refusal of HTML error pages served with a 200. Feeds differ in what they fetch,
 * never in how.
 */

const d = (text: string) => durationSchema.parse(text);

export const retrySchema = z
  .object({
    /** Attempts in all, the first included. */
    attempts: z.coerce.number().int().min(1).max(10).default(4),
    /** First back-off when the server names no Retry-After; doubles each attempt. */
    backoff: durationSchema.default(d('2s')),
    /** Longest wait we accept; a Retry-After beyond it fails the sync instead of stalling it. */
    maxWait: durationSchema.default(d('90s')),
  })
  .prefault({});
export type RetryPolicy = z.output<typeof retrySchema>;

export interface FetchOptions {
  retry: RetryPolicy;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Called before each wait so that a long sync can log or heartbeat. */
  onWait?: (note: string) => void;
}

export interface FetchedBody {
  body: Buffer;
  etag?: string | undefined;
  lastModified?: string | undefined;
  contentType: string;
}

/** NVD signals its rate limit with 403, others with 429; 5xx are transient by nature. */
function isRetryable(status: number, res: Response): boolean {
  return status === 429 || status >= 500 || (status === 403 && res.headers.has('retry-after'));
}

function retryAfterMs(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

/** GET with retries; returns the final response (2xx or 304), or fails with an UpstreamError that says why. */
async function getWithRetry(url: string, opts: FetchOptions): Promise<Response> {
  const { attempts, backoff, maxWait } = opts.retry;
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { headers: opts.headers, signal: opts.signal ?? null, redirect: 'follow' });
    } catch (err) {
      if (opts.signal?.aborted || attempt >= attempts)
        throw new UpstreamError(`GET ${redact(url)} failed: ${(err as Error).message}`, { cause: err });
      await sleep(durationMs(backoff) * 2 ** (attempt - 1), opts.signal);
      continue;
    }
    if (res.ok || res.status === 304) return res;
    const snippet = (await res.text()).slice(0, 200).replace(/\s+/g, ' ');
    if (!isRetryable(res.status, res) || attempt >= attempts) {
      throw new UpstreamError(
        `GET ${redact(url)} answered ${res.status}${attempt > 1 ? ` after ${attempt} attempts` : ''}: ${snippet}`,
        { retryable: isRetryable(res.status, res) },
      );
    }
    const wait = retryAfterMs(res) ?? durationMs(backoff) * 2 ** (attempt - 1);
    if (wait > durationMs(maxWait)) {
      throw new UpstreamError(
        `GET ${redact(url)} is rate-limited for ${Math.ceil(wait / 1000)}s, longer than retry.maxWait ${maxWait}`,
      );
    }
    opts.onWait?.(
      `${res.status} from ${redact(url)}; retrying in ${Math.ceil(wait / 1000)}s (attempt ${attempt + 1} of ${attempts})`,
    );
    await sleep(wait, opts.signal);
  }
}

/**
 * A GET that says "only if changed since" when the previous sync left an ETag or Last-Modified.
 * Returns undefined on 304.
 */
export async function conditionalGet(
  url: string,
  state: FeedSyncState,
  opts: FetchOptions,
): Promise<FetchedBody | undefined> {
  const headers: Record<string, string> = { ...opts.headers };
  if (state.etag) headers['if-none-match'] = state.etag;
  if (state.lastModified) headers['if-modified-since'] = state.lastModified;
  const res = await getWithRetry(url, { ...opts, headers });
  if (res.status === 304) return undefined;
  return readBody(url, res);
}

export async function getBody(url: string, opts: FetchOptions): Promise<FetchedBody> {
  return readBody(url, await getWithRetry(url, opts));
}

async function readBody(url: string, res: Response): Promise<FetchedBody> {
  const body = maybeGunzip(Buffer.from(await res.arrayBuffer()));
  const contentType = res.headers.get('content-type') ?? '';
  // Portals and CDNs answer outages with a friendly HTML page and status 200; that is not a feed.
  if (/text\/html/i.test(contentType) || looksLikeHtml(body)) {
    throw new UpstreamError(`GET ${redact(url)} returned an HTML page instead of feed data${htmlTitle(body)}`, {
      retryable: false,
    });
  }
  return {
    body,
    etag: res.headers.get('etag') ?? undefined,
    lastModified: res.headers.get('last-modified') ?? undefined,
    contentType,
  };
}

/** For testConnection: one HEAD request, no retries; says what answered rather than throwing. */
export async function probe(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ok: boolean; message: string }> {
  try {
    const res = await fetch(url, { method: 'HEAD', headers, signal: AbortSignal.timeout(10_000) });
    return { ok: res.ok || res.status === 405, message: `${redact(url)} answered ${res.status}` };
  } catch (err) {
    return { ok: false, message: `${redact(url)} unreachable: ${(err as Error).message}` };
  }
}

/** EPSS and NVD bulk files are published gzip-compressed; accept both forms everywhere. */
export function maybeGunzip(body: Buffer): Buffer {
  return body.length > 2 && body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body;
}

export function looksLikeHtml(body: Buffer | string): boolean {
  const head = (typeof body === 'string' ? body.slice(0, 512) : body.subarray(0, 512).toString('utf8'))
    .replace(/^\uFEFF/, '')
    .trimStart();
  return /^<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])/i.test(head);
}

export function htmlTitle(body: Buffer | string): string {
  const m = /<title[^>]*>([^<]{1,120})<\/title>/i.exec(
    typeof body === 'string' ? body : body.subarray(0, 4096).toString('utf8'),
  );
  return m?.[1] ? ` ("${m[1].trim()}")` : '';
}

/** API keys travel in headers, but some feeds take them as query parameters; keep them out of messages. */
function redact(url: string): string {
  return url.replace(/([?&](?:api_?key|apiKey|token)=)[^&]+/gi, '$1***');
}
