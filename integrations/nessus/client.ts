import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { durationMs } from '../../kernel/duration.ts';
import { NotAllowedError, NotReadyError, PatchflowError, UpstreamError } from '../../kernel/errors.ts';
import type { RetryPolicy } from '../feeds/http.ts';
import { errorForStatus } from '../kit/support/http.ts';

/**
 * The Nessus / Tenable Vulnerability Management REST calls the scanner connector makes (both
 * serve the same /scans API family), every JSON answer validated. The shapes are those of
 * recorded sessions against cloud.tenable.com (pyTenable's cassettes, test/fixtures/nessus-api)
 * and of Tenable's API reference (developer.tenable.com/reference/scans-*).
 *
 * The transport is node:http(s) rather than the kit's fetch-based `sendHttp` because this API
 * needs three things that helper does not give: the Retry-After header of a 429, a report body
 * streamed rather than read whole, and a CA of its own for an on-prem scanner's certificate.
 * The kit's `errorForStatus` still decides what a refusal means, and the retry policy is the
 * feeds' (`retrySchema`).
 */

export interface NessusClientOptions {
  /** Base URL; a path (a reverse-proxy prefix) is kept. */
  url: string;
  accessKey: string;
  secretKey: string;
  timeoutMs: number;
  retry: RetryPolicy;
  /** PEM certificates to trust besides the system's roots. */
  ca?: string | undefined;
  verifyTls: boolean;
  userAgent: string;
  /** Where the keys are set, named in the error a 401 gets. */
  keysHint: string;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Told before each wait for a retry (rate limit, outage), so that a long scan can heartbeat. */
  onWait?: ((note: string) => void) | undefined;
}

const nullableList = <S extends z.ZodType>(row: S) =>
  z
    .array(row)
    .nullish()
    .transform((rows) => rows ?? []);

export const templateSchema = z.object({ uuid: z.string(), name: z.string(), title: z.string().nullish() });
const templatesSchema = z.object({ templates: nullableList(templateSchema) });

const policySchema = z.object({ id: z.number(), name: z.string(), template_uuid: z.string().nullish() });
const policiesSchema = z.object({ policies: nullableList(policySchema) });

export const scanRowSchema = z.object({
  id: z.number(),
  name: z.string(),
  status: z.string().nullish(),
  /** False for a scan the user may not launch (imported scans, someone else's). */
  control: z.boolean().nullish(),
  last_modification_date: z.number().nullish(),
});
export type ScanRow = z.infer<typeof scanRowSchema>;
const scanListSchema = z.object({ scans: nullableList(scanRowSchema) });

const createdSchema = z.object({ scan: z.object({ id: z.number(), name: z.string() }) });
const launchedSchema = z.object({ scan_uuid: z.string().min(1) });

export const historySchema = z.object({
  history_id: z.number(),
  uuid: z.string(),
  status: z.string(),
  /** When the run started, epoch seconds. */
  creation_date: z.number(),
  last_modification_date: z.number().nullish(),
});
export type ScanRun = z.infer<typeof historySchema>;
const detailsSchema = z.object({
  info: z.object({
    status: z.string().nullish(),
    uuid: z.string().nullish(),
    scan_start: z.number().nullish(),
  }),
  history: nullableList(historySchema),
});
export type ScanDetails = z.infer<typeof detailsSchema>;

/** Nessus names an export by number (with a token), Tenable Vulnerability Management by string. */
const exportSchema = z.object({ file: z.union([z.string().min(1), z.number()]).transform(String) });
const exportStatusSchema = z.object({ status: z.string() });
const sessionSchema = z.object({ username: z.string().nullish(), name: z.string().nullish() });

export interface CreateScanBody {
  uuid: string;
  settings: {
    name: string;
    text_targets: string;
    enabled: boolean;
    folder_id?: number;
    policy_id?: number;
  };
}

interface Call {
  what: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /**
   * Safe to send twice. Creating and launching a scan are not: after a 5xx or a broken
   * connection they may have happened, so only a 429 (refused before any work) is retried.
   */
  idempotent: boolean;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

export class NessusClient {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly opts: NessusClientOptions) {
    this.base = new URL(opts.url.replace(/\/+$/, '') + '/');
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            rejectUnauthorized: opts.verifyTls,
            // `ca` replaces the system roots; the cloud keeps working with an on-prem CA added.
            ...(opts.ca ? { ca: [...rootCertificates, opts.ca] } : {}),
          })
        : new http.Agent({ keepAlive: true });
  }

  /** The user the keys belong to (GET /session): the cheapest call that proves the keys. */
  session(call: CallOptions = {}) {
    return this.json(
      { what: 'Nessus GET /session', method: 'GET', path: 'session', idempotent: true },
      sessionSchema,
      call,
    );
  }

  async scanTemplates(call: CallOptions = {}) {
    const answer = await this.json(
      { what: 'Nessus GET /editor/scan/templates', method: 'GET', path: 'editor/scan/templates', idempotent: true },
      templatesSchema,
      call,
    );
    return answer.templates;
  }

  async policies(call: CallOptions = {}) {
    const answer = await this.json(
      { what: 'Nessus GET /policies', method: 'GET', path: 'policies', idempotent: true },
      policiesSchema,
      call,
    );
    return answer.policies;
  }

  async scans(folderId: number | undefined, call: CallOptions = {}): Promise<ScanRow[]> {
    const query = folderId === undefined ? '' : `?folder_id=${folderId}`;
    const answer = await this.json(
      { what: 'Nessus GET /scans', method: 'GET', path: `scans${query}`, idempotent: true },
      scanListSchema,
      call,
    );
    return answer.scans;
  }

  async createScan(body: CreateScanBody, call: CallOptions = {}) {
    const answer = await this.json(
      { what: 'Nessus POST /scans', method: 'POST', path: 'scans', body, idempotent: false },
      createdSchema,
      call,
    );
    return answer.scan;
  }

  /**
   * Launches a run of the scan against `targets` instead of its configured ones and returns the
   * run's uuid. Nessus runs one instance of a scan at a time: a conflict means another run of
   * this scan is still going, which waiting cures.
   */
  async launch(scanId: number, targets: string[], call: CallOptions = {}): Promise<string> {
    const what = `Nessus launch of scan ${scanId}`;
    const answer = await this.send(
      { what, method: 'POST', path: `scans/${scanId}/launch`, body: { alt_targets: targets }, idempotent: false },
      call,
    );
    if (answer.status === 409) {
      const detail = errorDetail(await readText(answer.body, call.signal));
      throw new NotReadyError(
        `${what}: HTTP 409${detail ? ` — ${detail}` : ''} (another run of this scan has not finished yet)`,
      );
    }
    return (await this.validated(what, answer, launchedSchema, call.signal)).scan_uuid;
  }

  details(scanId: number, call: CallOptions = {}): Promise<ScanDetails> {
    return this.json(
      { what: `Nessus GET /scans/${scanId}`, method: 'GET', path: `scans/${scanId}`, idempotent: true },
      detailsSchema,
      call,
    );
  }

  /** Asks Nessus to stop the scan's current run; a scan with nothing running (409) needs nothing. */
  async stop(scanId: number, call: CallOptions = {}): Promise<void> {
    const what = `Nessus stop of scan ${scanId}`;
    const answer = await this.send({ what, method: 'POST', path: `scans/${scanId}/stop`, idempotent: true }, call);
    const text = await readText(answer.body, call.signal);
    if (answer.status === 409 || (answer.status >= 200 && answer.status < 300)) return;
    throw this.errorFor(what, answer.status, text);
  }

  async requestExport(scanId: number, historyId: number | undefined, call: CallOptions = {}): Promise<string> {
    const query = historyId === undefined ? '' : `?history_id=${historyId}`;
    const answer = await this.json(
      {
        what: `Nessus export of scan ${scanId}`,
        method: 'POST',
        path: `scans/${scanId}/export${query}`,
        body: { format: 'nessus' },
        idempotent: true,
      },
      exportSchema,
      call,
    );
    return answer.file;
  }

  async exportStatus(scanId: number, file: string, call: CallOptions = {}): Promise<string> {
    const path = `scans/${scanId}/export/${encodeURIComponent(file)}/status`;
    const answer = await this.json(
      { what: `Nessus export status of scan ${scanId}`, method: 'GET', path, idempotent: true },
      exportStatusSchema,
      call,
    );
    return answer.status;
  }

  /**
   * The exported report as it arrives, never held whole. The caller's abort ends the stream;
   * a connection that breaks off or falls silent for `timeoutMs` ends it with an UpstreamError.
   */
  async download(scanId: number, file: string, call: CallOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const what = `Nessus download of the report of scan ${scanId}`;
    const answer = await this.send(
      {
        what,
        method: 'GET',
        path: `scans/${scanId}/export/${encodeURIComponent(file)}/download`,
        idempotent: true,
      },
      call,
    );
    if (answer.status !== 200) throw this.errorFor(what, answer.status, await readText(answer.body, call.signal));
    return streamOf(answer.body, what, call.signal);
  }

  private async json<S extends z.ZodType>(c: Call, schema: S, call: CallOptions): Promise<z.output<S>> {
    return this.validated(c.what, await this.send(c, call), schema, call.signal);
  }

  private async validated<S extends z.ZodType>(
    what: string,
    answer: Answer,
    schema: S,
    signal?: AbortSignal,
  ): Promise<z.output<S>> {
    const text = await readText(answer.body, signal);
    if (answer.status < 200 || answer.status > 299) throw this.errorFor(what, answer.status, text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new UpstreamError(`${what}: the answer is not JSON${htmlHint(text)}`, { retryable: false, cause: err });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new UpstreamError(`${what}: unexpected answer (${issues})`, { retryable: false });
    }
    return parsed.data;
  }

  /** Nessus's refusal in Patchflow's terms, worded so that a person knows what to fix. */
  private errorFor(what: string, status: number, text: string): PatchflowError {
    const detail = errorDetail(text);
    const said = `${what}: HTTP ${status}${detail ? ` — ${detail}` : ''}`;
    if (status === 401)
      return new NotAllowedError(
        `${said}: the API keys were rejected; check the access key and secret key (${this.opts.keysHint}): they must be a current key pair of one Nessus user`,
      );
    if (status === 403)
      return new NotAllowedError(
        `${said}: the API keys' user lacks a permission Patchflow needs (to create, launch, stop and export its scan: the Scan Operator role or better, with Can Execute on the scan)`,
      );
    return errorForStatus(what, status, detail);
  }

  /**
   * One request, retried on a rate limit (after the Retry-After Nessus names) and, when it is safe
   * to send again, on a 5xx or a connection that failed; the caller's abort is never retried.
   */
  private async send(c: Call, call: CallOptions): Promise<Answer> {
    const { attempts } = this.opts.retry;
    for (let attempt = 1; ; attempt++) {
      call.signal?.throwIfAborted();
      const outcome = await this.attempt(c, call, durationMs(this.opts.retry.backoff) * 2 ** (attempt - 1));
      if ('answer' in outcome) return outcome.answer;
      const { failure, waitMs } = outcome;
      if (attempt >= attempts)
        throw attempts > 1
          ? new UpstreamError(`${failure.message} (after ${attempts} attempts)`, {
              retryable: failure.retryable,
              cause: failure,
            })
          : failure;
      call.onWait?.(
        `${failure.message.slice(0, 200)}; retrying in ${Math.ceil(waitMs / 1000)}s (attempt ${attempt + 1} of ${attempts})`,
      );
      await pause(waitMs, call.signal);
    }
  }

  /** One try: the answer to hand back, or the transient failure to retry after `waitMs`. */
  private async attempt(
    c: Call,
    call: CallOptions,
    backoffMs: number,
  ): Promise<{ answer: Answer } | { failure: PatchflowError; waitMs: number }> {
    let answer: Answer;
    try {
      answer = await this.exchange(c, call.signal);
    } catch (err) {
      if (call.signal?.aborted) throw call.signal.reason;
      if (err instanceof UpstreamError && err.retryable && (c.idempotent || refused(err)))
        return { failure: err, waitMs: backoffMs };
      throw err;
    }
    const throttled = answer.status === 429;
    const transient = throttled || answer.status === 408 || answer.status >= 500;
    if (!transient || (!c.idempotent && !throttled)) return { answer };
    const text = await readText(answer.body, call.signal);
    const waitMs = retryAfterMs(answer.headers['retry-after']) ?? backoffMs;
    if (waitMs > durationMs(this.opts.retry.maxWait))
      throw new UpstreamError(
        `${c.what}: ${this.base.host} asks to wait ${Math.ceil(waitMs / 1000)}s (HTTP ${answer.status}), longer than retry.maxWait ${this.opts.retry.maxWait}`,
      );
    return { failure: this.errorFor(c.what, answer.status, text), waitMs };
  }

  /** One HTTP exchange: resolves when the status and headers arrive; the body is the caller's to read. */
  private exchange(c: Call, signal: AbortSignal | undefined): Promise<Answer> {
    const url = new URL(c.path, this.base);
    const body = c.body === undefined ? undefined : JSON.stringify(c.body);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<Answer>((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method: c.method,
          agent: this.agent,
          signal,
          timeout: this.opts.timeoutMs,
          headers: {
            'x-apikeys': `accessKey=${this.opts.accessKey}; secretKey=${this.opts.secretKey}`,
            accept: 'application/json',
            'user-agent': this.opts.userAgent,
            ...(body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
          },
        },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      // The socket timeout covers the wait for the answer and every silence while the body streams.
      req.on('timeout', () =>
        req.destroy(new UpstreamError(`${c.what}: no answer from ${url.origin} within ${this.opts.timeoutMs} ms`)),
      );
      req.on('error', (err) => {
        if (signal?.aborted) return reject(signal.reason);
        if (err instanceof UpstreamError) return reject(err);
        reject(
          new UpstreamError(`${c.what}: cannot reach ${url.origin} (${describeNetworkError(err)})`, { cause: err }),
        );
      });
      req.end(body);
    });
  }
}

/** The reason in Nessus's error body (`{"error": …}`, or Tenable's `{"message": …}`), else the text itself. */
export function errorDetail(text: string): string {
  try {
    const json = JSON.parse(text) as { error?: unknown; message?: unknown };
    const parts = [json.error, json.message].filter((p): p is string => typeof p === 'string' && p !== '');
    if (parts.length) return [...new Set(parts)].join(': ').slice(0, 300);
  } catch {
    // not JSON: a gateway's page or plain text
  }
  return text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

function htmlHint(text: string): string {
  return /^\s*</.test(text) ? ` (it starts "${text.trim().slice(0, 60).replace(/\s+/g, ' ')}")` : '';
}

function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A connection refused never reached the server, so even a launch may be sent again. */
function refused(err: UpstreamError): boolean {
  return (err.cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
}

function describeNetworkError(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

async function readText(body: http.IncomingMessage, signal?: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of body) chunks.push(chunk as Buffer);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof PatchflowError) throw err;
    throw new UpstreamError(`the answer broke off (${(err as Error).message})`, { cause: err });
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function* streamOf(
  body: http.IncomingMessage,
  what: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk as Buffer;
    if (!body.complete) throw new UpstreamError(`${what}: the connection closed before the report was complete`);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof PatchflowError) throw err;
    throw new UpstreamError(`${what}: the download broke off (${(err as Error).message})`, { cause: err });
  } finally {
    // A reader that stops early (an invalid report) must not leave the connection open.
    body.destroy();
  }
}
