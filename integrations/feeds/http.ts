import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { durationMs, durationSchema } from '../../kernel/duration.ts';
import { UpstreamError } from '../../kernel/errors.ts';
import type { FeedSyncState } from '../contract/index.ts';

/**
 * The one HTTP path every feed uses: conditional GETs, bounded retries that honour Retry-After,
 * gzip bodies and refusal of HTML error pages served with a 200. Feeds differ in what they fetch,
 * never in how.
 *
 * How a failed request is retried, and by whom: the request is retried here, not the sync. A sync
 * is a walk of many requests (NVD pages, CSAF documents and their hashes and signatures) whose
 * batch is stored once at the end, so retrying the whole sync for one flaky request would fetch
 * every page again. Each request is therefore retried in place, `retry.attempts` times, after the
 * wait the server names in Retry-After, or else after a full-jitter back-off (a wait drawn
 * uniformly from 0 to min(maxWait, backoff × 2^(attempt-1)), AWS's "Exponential Backoff and
 * Jitter"), so that many workers behind one rate limit do not come back in step. Only short
 * waits are spent here: a Retry-After beyond `retry.maxWait`, or a source still failing when the
 * attempts are spent, fails the sync. When the sync runs as a Temporal activity
 * (activities/feeds.ts), Temporal's activity retry policy takes over from there: it retries the
 * whole sync later, without holding a worker slot, and after exactly the Retry-After the source
 * asked for (`RateLimitedError.retryAfterMs` becomes the failure's `nextRetryDelay`).
 *
 * Every request has its own timeout, `retry.requestTimeout`, from sending it to the last byte of
 * its body, so one hung connection costs one attempt, not the sync; the sync as a whole is bounded
 * by its caller (the activity's start-to-close timeout). A request cancelled by the caller's
 * AbortSignal stays a cancellation: the signal's reason is thrown as it is (Temporal's
 * CancelledFailure in an activity), never an UpstreamError, so that nothing retries it.
 */

const d = (text: string) => durationSchema.parse(text);

export const retrySchema = z
  .object({
    /** Attempts in all, the first included. */
    attempts: z.coerce.number().int().min(1).max(10).default(4),
    /** First back-off ceiling when the server names no Retry-After; doubles each attempt, the wait drawn below it. */
    backoff: durationSchema.default(d('2s')),
    /** Longest wait we accept; a Retry-After beyond it fails the sync instead of stalling it. */
    maxWait: durationSchema.default(d('90s')),
    /** How long one request may take, from sending it to the last byte of its body, before it counts as a failed attempt. */
    requestTimeout: durationSchema.default(d('60s')),
  })
  .prefault({});
export type RetryPolicy = z.output<typeof retrySchema>;

export interface FetchOptions {
  retry: RetryPolicy;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Called before each wait so that a long sync can log or heartbeat. */
  onWait?: (note: string) => void;
  /**
   * The source answers 403 when a client goes over its rate limit, with or without Retry-After, as
   * NVD does; elsewhere a 403 without Retry-After is a refusal, and retrying cannot change it.
   */
  forbiddenMeansRateLimited?: boolean;
}

export interface FetchedBody {
  body: Buffer;
  etag?: string | undefined;
  lastModified?: string | undefined;
  contentType: string;
}

/**
 * The source asked us to wait (Retry-After) longer than we wait in place, or was still limiting
 * us when the attempts were spent. An UpstreamError like any outage; `retryAfterMs` is what the
 * source asked for, so that a retry of the whole sync (Temporal's) waits exactly that.
 */
export class RateLimitedError extends UpstreamError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** A whole answer: status, headers and the body read to its end within the request's timeout. */
interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** 429 and 5xx are transient by nature; a 403 is a rate limit where the source says so (Retry-After, or NVD's way). */
function isRetryable(answer: Answer, opts: FetchOptions): boolean {
  const { status, headers } = answer;
  if (status === 429 || status >= 500) return true;
  return status === 403 && (opts.forbiddenMeansRateLimited === true || headers.has('retry-after'));
}

function retryAfterMs(headers: Headers): number | undefined {
  const v = headers.get('retry-after');
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Full jitter: uniformly below the doubling ceiling, the ceiling capped at maxWait. */
function backoffMs(retry: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(durationMs(retry.maxWait), durationMs(retry.backoff) * 2 ** (attempt - 1));
  return Math.floor(Math.random() * ceiling);
}

/** A wait that ends early, with the signal's reason, when the caller cancels. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
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

const shown = (ms: number) => (ms < 1000 ? `${ms}ms` : `${Math.ceil(ms / 1000)}s`);
const afterAttempts = (attempt: number) => (attempt > 1 ? ` after ${attempt} attempts` : '');

/** The reason a request failed, in words: undici hides the network error (ECONNREFUSED, a reset) in `cause`. */
function networkReason(err: unknown): string {
  const cause = (err as Error).cause;
  return cause instanceof Error ? cause.message : (err as Error).message;
}

/** Why one request gave no answer, for the message: it timed out, or the network failed. */
interface NoAnswer {
  failure: string;
  cause: unknown;
}

/**
 * One request, bounded by retry.requestTimeout from sending it to the last byte of its body.
 * The caller's cancellation is thrown as its own reason; a timeout or a network failure is
 * returned, as worth another attempt.
 */
async function requestOnce(url: string, opts: FetchOptions): Promise<Answer | NoAnswer> {
  const timeout = AbortSignal.timeout(durationMs(opts.retry.requestTimeout));
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    const res = await fetch(url, { headers: opts.headers, signal, redirect: 'follow' });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason as Error;
    return {
      failure: timeout.aborted
        ? `gave no complete answer within retry.requestTimeout ${opts.retry.requestTimeout}`
        : `failed: ${networkReason(err)}`,
      cause: err,
    };
  }
}

/** GET with retries; returns the final answer (2xx or 304), or fails with an UpstreamError that says why. */
async function getWithRetry(url: string, opts: FetchOptions): Promise<Answer> {
  const { attempts, maxWait } = opts.retry;
  for (let attempt = 1; ; attempt++) {
    const answer = await requestOnce(url, opts);
    if ('failure' in answer) {
      const message = `GET ${redact(url)} ${answer.failure}`;
      if (attempt >= attempts) throw new UpstreamError(`${message}${afterAttempts(attempt)}`, { cause: answer.cause });
      const wait = backoffMs(opts.retry, attempt);
      opts.onWait?.(`${message}; retrying in ${shown(wait)} (attempt ${attempt + 1} of ${attempts})`);
      await pause(wait, opts.signal);
      continue;
    }
    if ((answer.status >= 200 && answer.status < 300) || answer.status === 304) return answer;
    const snippet = answer.body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ');
    const retryable = isRetryable(answer, opts);
    const asked = retryable ? retryAfterMs(answer.headers) : undefined;
    if (!retryable || attempt >= attempts) {
      const message = `GET ${redact(url)} answered ${answer.status}${afterAttempts(attempt)}: ${snippet}`;
      throw asked !== undefined ? new RateLimitedError(message, asked) : new UpstreamError(message, { retryable });
    }
    const wait = asked ?? backoffMs(opts.retry, attempt);
    if (wait > durationMs(maxWait)) {
      throw new RateLimitedError(
        `GET ${redact(url)} is rate-limited for ${shown(wait)}, longer than retry.maxWait ${maxWait}`,
        wait,
      );
    }
    opts.onWait?.(
      `${answer.status} from ${redact(url)}; retrying in ${shown(wait)} (attempt ${attempt + 1} of ${attempts})`,
    );
    await pause(wait, opts.signal);
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
  const answer = await getWithRetry(url, { ...opts, headers });
  if (answer.status === 304) return undefined;
  return readBody(url, answer);
}

export async function getBody(url: string, opts: FetchOptions): Promise<FetchedBody> {
  return readBody(url, await getWithRetry(url, opts));
}

function readBody(url: string, answer: Answer): FetchedBody {
  const body = maybeGunzip(answer.body);
  const contentType = answer.headers.get('content-type') ?? '';
  // Portals and CDNs answer outages with a friendly HTML page and status 200; that is not a feed.
  if (/text\/html/i.test(contentType) || looksLikeHtml(body)) {
    throw new UpstreamError(`GET ${redact(url)} returned an HTML page instead of feed data${htmlTitle(body)}`, {
      retryable: false,
    });
  }
  return {
    body,
    etag: answer.headers.get('etag') ?? undefined,
    lastModified: answer.headers.get('last-modified') ?? undefined,
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
