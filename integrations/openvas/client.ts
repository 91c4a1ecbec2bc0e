import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { finished } from 'node:stream/promises';
import tls from 'node:tls';
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import {
  InputError,
  NotAllowedError,
  NotFoundError,
  PatchflowError,
  UpstreamError,
  type ErrorDetail,
} from '../../kernel/errors.ts';
import { child, childText, parseXml, type XmlElement } from '../feeds/parse.ts';

/**
 * GMP, the Greenbone Management Protocol (https://docs.greenbone.net/API/GMP/gmp-22.4.html): XML
 * commands over a stream — gvmd's unix socket or its TLS port — each answered by one
 * `<command>_response` element whose `status` attribute is an HTTP-like code. The stream has no
 * framing besides the XML itself, so an answer ends where its root element closes; every
 * connection starts with `<authenticate>`.
 */

export interface GmpEndpoint {
  socketPath?: string | undefined;
  host?: string | undefined;
  port: number;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  rejectUnauthorized: boolean;
  serverName?: string | undefined;
}

export interface GmpClientOptions {
  endpoint: GmpEndpoint;
  username: string;
  password: string;
  /** Connecting, and each wait for the next bytes of an answer. */
  timeoutMs: number;
}

/** Answers other than reports are a few kilobytes; this bounds what a confused peer can make us hold. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export function describeEndpoint(e: GmpEndpoint): string {
  return e.socketPath ? `gvmd at ${e.socketPath}` : `gvmd at ${e.host}:${e.port}`;
}

const xmlEntities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
/** Text or an attribute value, escaped for a GMP command. */
export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => xmlEntities[c]!);
}

/** gvmd's refusal in Patchflow's terms: what retrying cannot fix is not retryable; 409 (busy) and 5xx are. */
export function gmpStatusError(what: string, status: number, statusText: string, hint?: string): PatchflowError {
  const said = `${what}: gvmd answered ${status} "${statusText || 'no status text'}"${hint ? ` (${hint})` : ''}`;
  if (status === 401 || status === 403) return new NotAllowedError(said);
  if (status === 404) return new NotFoundError(said);
  if (status === 409 || status >= 500) return new UpstreamError(said);
  if (status === 400) return new InputError(said);
  return new UpstreamError(said, { retryable: false });
}

/** Checks an answer's root: the command's own `_response` (or gvmd's generic `gmp_response`) with a 2xx status. */
function checkAnswer(
  what: string,
  command: string,
  root: string,
  attributes: Record<string, string>,
  hint?: string,
): void {
  if (root !== `${command}_response` && root !== 'gmp_response')
    throw new UpstreamError(`${what}: gvmd answered with <${root}>, not <${command}_response>`, { retryable: false });
  const status = Number(attributes['status']);
  if (!Number.isInteger(status))
    throw new UpstreamError(`${what}: gvmd's answer carries no status`, { retryable: false });
  if (status < 200 || status > 299) throw gmpStatusError(what, status, attributes['status_text'] ?? '', hint);
}

/** Text the framer read as Latin-1 (one character per byte), decoded as the UTF-8 gvmd sends. */
function utf8(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

const answerEnd = Symbol('the root element of the answer closed');

/**
 * Finds where one answer ends in the byte stream and notes what the caller asked about on the
 * way: the root's attributes, the text of a few elements, the byte range of one element.
 *
 * It reads the bytes as Latin-1, one character per byte, so that saxes's positions are byte
 * offsets. UTF-8 never uses bytes below 0x80 inside a multi-byte character, so markup is read
 * exactly; only the text of non-ASCII characters comes out mangled, and `utf8` mends it.
 */
class AnswerFramer {
  root: { name: string; attributes: Record<string, string> } | undefined;
  /** Text of the `capture` paths (relative to the root, e.g. `report/report/scan_start`), first occurrence. */
  readonly texts = new Map<string, string>();
  /** Paths of `watch` that occurred. */
  readonly seen = new Set<string>();
  /** Byte range of the first `span` element; `start` may point at whitespace before its start tag. */
  span: { start: number; end?: number; attributes: Record<string, string> } | undefined;

  private readonly parser = new SaxesParser<{ xmlns: false; position: true }>({ xmlns: false, position: true });
  private readonly path: string[] = [];
  private readonly deepest: number;
  private fed = 0;
  private boundary = 0;
  private endsAt = 0;
  private capturing: { path: string; text: string } | undefined;

  constructor(
    private readonly what: string,
    private readonly want: { capture?: ReadonlySet<string>; watch?: ReadonlySet<string>; span?: string } = {},
  ) {
    const paths = [...(want.capture ?? []), ...(want.watch ?? []), ...(want.span ? [want.span] : [])];
    this.deepest = Math.max(0, ...paths.map((p) => p.split('/').length));
    const p = this.parser;
    p.on('doctype', () => {
      throw new UpstreamError(`${what}: the answer declares a DOCTYPE, which gvmd never does`, { retryable: false });
    });
    p.on('opentag', (tag: SaxesTagPlain) => {
      if (this.path.length === 0) this.root = { name: tag.name, attributes: { ...tag.attributes } };
      else if (this.path.length <= this.deepest) {
        const rel = this.relative(tag.name);
        if (rel === this.want.span && !this.span)
          this.span = { start: this.boundary, attributes: { ...tag.attributes } };
        if (this.want.watch?.has(rel)) this.seen.add(rel);
        if (this.want.capture?.has(rel) && !this.texts.has(rel)) {
          this.capturing = { path: rel, text: '' };
          p.on('text', (t) => {
            if (this.capturing && this.capturing.text.length < 4096) this.capturing.text += t;
          });
        }
      }
      this.path.push(tag.name);
      this.boundary = p.position;
    });
    p.on('closetag', (tag: SaxesTagPlain) => {
      this.path.pop();
      if (this.path.length > 0 && this.path.length <= this.deepest) {
        const rel = this.relative(tag.name);
        if (this.capturing?.path === rel) {
          this.texts.set(rel, utf8(this.capturing.text).trim());
          this.capturing = undefined;
          p.off('text');
        }
        if (rel === this.want.span && this.span && this.span.end === undefined) this.span.end = p.position;
      }
      this.boundary = p.position;
      if (this.path.length === 0) {
        this.endsAt = p.position;
        throw answerEnd;
      }
    });
  }

  private relative(name: string): string {
    return [...this.path.slice(1), name].join('/');
  }

  /** Reads a chunk; returns the offset in it just past the answer's end, or undefined while the answer goes on. */
  feed(chunk: Buffer): number | undefined {
    const before = this.fed;
    this.fed += chunk.length;
    try {
      this.parser.write(chunk.toString('latin1'));
    } catch (err) {
      if (err === answerEnd) return this.endsAt - before;
      if (err instanceof PatchflowError) throw err;
      throw new UpstreamError(`${this.what}: the answer is not well-formed XML (${(err as Error).message})`, {
        retryable: false,
      });
    }
    return undefined;
  }
}

/** Where an answer's bytes go while it arrives. */
interface AnswerSink {
  /** False asks the connection to stop reading until `drained` resolves. */
  write(bytes: Buffer): boolean;
  drained(): Promise<void>;
}

class BufferSink implements AnswerSink {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly what: string) {}
  write(bytes: Buffer): boolean {
    this.size += bytes.length;
    if (this.size > MAX_ANSWER_BYTES)
      throw new UpstreamError(`${this.what}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`, {
        retryable: false,
      });
    this.chunks.push(bytes);
    return true;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Spools an answer to a file, refusing it past `maxBytes`, so that a large report costs disk, not memory. */
class FileSink implements AnswerSink {
  size = 0;
  private readonly out: WriteStream;
  private failure: Error | undefined;
  constructor(
    file: string,
    private readonly maxBytes: number,
    private readonly tooLarge: () => Error,
  ) {
    this.out = createWriteStream(file, { flags: 'wx' });
    this.out.on('error', (err) => (this.failure ??= err));
  }
  write(bytes: Buffer): boolean {
    this.size += bytes.length;
    if (this.size > this.maxBytes) throw this.tooLarge();
    if (this.failure) throw this.failure;
    return this.out.write(bytes);
  }
  async drained(): Promise<void> {
    await once(this.out, 'drain');
  }
  async finish(): Promise<void> {
    this.out.end();
    await finished(this.out);
  }
  abort(): void {
    this.out.destroy();
  }
}

/** Turns a failure to connect into what it means for the caller; the caller's own abort stays as it is. */
function connectError(where: string, err: NodeJS.ErrnoException): PatchflowError {
  const code = err.code ?? '';
  if (code === 'EACCES' || code === 'EPERM')
    return new NotAllowedError(
      `cannot open ${where}: permission denied; Patchflow's user needs to be in the group that owns gvmd's socket`,
    );
  if (/CERT|ERR_TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code))
    return new UpstreamError(
      `the TLS certificate of ${where} was refused (${code}: ${err.message}); set caFile to the CA that signed it, or serverName to the name it holds`,
      { retryable: false, cause: err },
    );
  const hint =
    code === 'ENOENT' || code === 'ECONNREFUSED'
      ? '; is gvmd running, and listening where socketPath or host says?'
      : '';
  return new UpstreamError(`cannot reach ${where} (${code || err.message})${hint}`, { cause: err });
}

async function openSocket(e: GmpEndpoint, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  signal?.throwIfAborted();
  const where = describeEndpoint(e);
  const tlsFile = async (file: string | undefined, setting: string) => {
    if (!file) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      throw new InputError(`cannot read ${setting} ${file} (${(err as Error).message})`, [
        { path: [setting], message: 'unreadable file' },
      ]);
    }
  };
  const [ca, cert, key] = e.socketPath
    ? []
    : await Promise.all([tlsFile(e.caFile, 'caFile'), tlsFile(e.certFile, 'certFile'), tlsFile(e.keyFile, 'keyFile')]);
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = e.socketPath
      ? net.createConnection({ path: e.socketPath })
      : tls.connect({
          host: e.host,
          port: e.port,
          ca,
          cert,
          key,
          rejectUnauthorized: e.rejectUnauthorized,
          // SNI and the certificate check use a name; an IP address is checked against the certificate's IP entries.
          servername: e.serverName ?? (net.isIP(e.host ?? '') ? undefined : e.host),
          minVersion: 'TLSv1.2',
        });
    const timer = setTimeout(
      () => fail(new UpstreamError(`cannot reach ${where}: no connection within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = () => fail(signal?.reason);
    const onError = (err: NodeJS.ErrnoException) => fail(connectError(where, err));
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
    };
    function fail(err: unknown) {
      cleanup();
      socket.destroy();
      reject(err);
    }
    socket.once(e.socketPath ? 'connect' : 'secureConnect', () => {
      cleanup();
      resolve(socket);
    });
    socket.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** One connection to gvmd: commands go out one at a time, and each answer is read to its end before the next. */
class GmpConnection {
  private leftover: Buffer | undefined;
  private active: { take(chunk: Buffer): void; fail(err: unknown): void } | undefined;
  private lost: Error | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly where: string,
    timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      if (this.active) this.active.take(chunk);
      else this.leftover = this.leftover ? Buffer.concat([this.leftover, chunk]) : chunk;
    });
    const lose = (err: Error) => {
      this.lost ??= err;
      this.active?.fail(this.lost);
    };
    socket.on('error', (err) =>
      lose(new UpstreamError(`the connection to ${where} failed (${err.message})`, { cause: err })),
    );
    socket.on('close', () => lose(new UpstreamError(`${where} closed the connection before it answered`)));
    socket.setTimeout(timeoutMs, () => {
      lose(new UpstreamError(`no answer from ${where} within ${timeoutMs} ms`));
      socket.destroy();
    });
  }

  static async open(e: GmpEndpoint, timeoutMs: number, signal?: AbortSignal): Promise<GmpConnection> {
    return new GmpConnection(await openSocket(e, timeoutMs, signal), describeEndpoint(e), timeoutMs);
  }

  /** Sends one command and reads its answer into `sink` until `framer` finds the answer's end. */
  exchange(xml: string, framer: AnswerFramer, sink: AnswerSink, signal?: AbortSignal): Promise<void> {
    if (this.lost) return Promise.reject(this.lost);
    if (this.active) return Promise.reject(new Error('GMP commands on one connection go one at a time'));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        this.active = undefined;
        signal?.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = () => {
        settle(signal?.reason);
        this.socket.destroy();
      };
      const take = (chunk: Buffer) => {
        if (settled) return;
        try {
          const end = framer.feed(chunk);
          if (end !== undefined && end < chunk.length) this.leftover = chunk.subarray(end);
          const more = sink.write(end === undefined ? chunk : chunk.subarray(0, end));
          if (end !== undefined) return settle();
          if (!more) {
            this.socket.pause();
            sink.drained().then(
              () => this.socket.resume(),
              (err: unknown) => {
                this.socket.destroy();
                settle(err);
              },
            );
          }
        } catch (err) {
          this.socket.destroy();
          settle(err);
        }
      };
      this.active = { take, fail: settle };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.socket.write(xml);
      const pending = this.leftover;
      this.leftover = undefined;
      if (pending) take(pending);
    });
  }

  close(): void {
    this.socket.destroySoon();
  }
}

export interface GmpTask {
  id: string;
  name: string;
  /** New, Requested, Queued, Running, Stop Requested, Stopped, Interrupted, Done… (GMP `task_status`). */
  status: string;
  /** Percent done while the task runs; gvmd says -1 when it does not run. */
  progress: number;
  /** The report being written, while the task runs. */
  currentReport?: { id: string; timestamp?: string | undefined } | undefined;
  /** The last finished report. */
  lastReport?: { id: string; timestamp?: string | undefined } | undefined;
}

/** A report downloaded to a file: the bytes of its outer `<report>` element lie in [start, end). */
export interface SpooledReport {
  file: string;
  start: number;
  end: number;
  bytes: number;
  scanStart?: string | undefined;
  timestamp?: string | undefined;
  scanRunStatus?: string | undefined;
}

function reportRef(el: XmlElement | undefined): GmpTask['lastReport'] {
  const report = el ? child(el, 'report') : undefined;
  const id = report?.attrs['id'];
  return id ? { id, timestamp: childText(report, 'timestamp') } : undefined;
}

/** The commands Patchflow sends, on one authenticated connection. */
export class GmpSession {
  role = '';

  constructor(
    private readonly conn: GmpConnection,
    private readonly signal?: AbortSignal,
  ) {}

  private what(command: string, about = ''): string {
    return `GMP <${command}>${about ? ` ${about}` : ''} to ${this.conn.where}`;
  }

  /** Sends a command and returns its answer's root element; any status but 2xx is thrown as its error kind. */
  async command(command: string, xml: string, opts: { about?: string; hint?: string } = {}): Promise<XmlElement> {
    const what = this.what(command, opts.about);
    const sink = new BufferSink(what);
    await this.conn.exchange(xml, new AnswerFramer(what), sink, this.signal);
    let root: XmlElement;
    try {
      root = parseXml(sink.text(), `gvmd's answer to <${command}>`);
    } catch (err) {
      throw new UpstreamError(`${what}: ${(err as Error).message}`, { retryable: false, cause: err });
    }
    checkAnswer(what, command, root.name, root.attrs, opts.hint);
    return root;
  }

  async authenticate(username: string, password: string): Promise<void> {
    const xml = `<authenticate><credentials><username>${xmlEscape(username)}</username><password>${xmlEscape(password)}</password></credentials></authenticate>`;
    try {
      const answer = await this.command('authenticate', xml, { about: `as ${username}` });
      this.role = childText(answer, 'role') ?? '';
    } catch (err) {
      // gvmd answers bad credentials with 400 "Authentication failed": not a malformed request but a refusal.
      if (err instanceof InputError) throw new NotAllowedError(`${err.message}: check username and password`);
      throw err;
    }
  }

  async version(): Promise<string> {
    return childText(await this.command('get_version', '<get_version/>'), 'version') ?? 'unknown';
  }

  private async created(command: string, xml: string, hint: string): Promise<string> {
    const answer = await this.command(command, xml, { hint });
    const id = answer.attrs['id'];
    if (!id) throw new UpstreamError(`${this.what(command)}: gvmd created it but named no id`, { retryable: false });
    return id;
  }

  createTarget(t: { name: string; comment: string; hosts: string[]; portListId: string; aliveTest: string }) {
    return this.created(
      'create_target',
      `<create_target><name>${xmlEscape(t.name)}</name><comment>${xmlEscape(t.comment)}</comment>` +
        `<hosts>${xmlEscape(t.hosts.join(','))}</hosts><alive_tests>${xmlEscape(t.aliveTest)}</alive_tests>` +
        `<port_list id="${xmlEscape(t.portListId)}"/></create_target>`,
      'check portListId',
    );
  }

  createTask(t: { name: string; comment: string; configId: string; targetId: string; scannerId: string }) {
    return this.created(
      'create_task',
      `<create_task><name>${xmlEscape(t.name)}</name><comment>${xmlEscape(t.comment)}</comment>` +
        `<config id="${xmlEscape(t.configId)}"/><target id="${xmlEscape(t.targetId)}"/>` +
        `<scanner id="${xmlEscape(t.scannerId)}"/></create_task>`,
      'check scanConfigId and scannerId',
    );
  }

  /** Starts the task; returns the id of the report the run writes. */
  async startTask(taskId: string): Promise<string> {
    const answer = await this.command('start_task', `<start_task task_id="${xmlEscape(taskId)}"/>`, {
      about: `of task ${taskId}`,
    });
    const reportId = childText(answer, 'report_id');
    if (!reportId)
      throw new UpstreamError(`${this.what('start_task')}: gvmd started task ${taskId} but named no report`, {
        retryable: false,
      });
    return reportId;
  }

  async stopTask(taskId: string): Promise<void> {
    await this.command('stop_task', `<stop_task task_id="${xmlEscape(taskId)}"/>`, { about: `of task ${taskId}` });
  }

  async task(taskId: string): Promise<GmpTask> {
    const answer = await this.command('get_tasks', `<get_tasks task_id="${xmlEscape(taskId)}"/>`, {
      about: `of task ${taskId}`,
    });
    const task = answer.children.find((c) => c.name === 'task' && c.attrs['id'] === taskId);
    if (!task) throw new NotFoundError(`${this.what('get_tasks')}: gvmd has no task ${taskId}`);
    const progress = Number.parseFloat(childText(task, 'progress') ?? '');
    return {
      id: taskId,
      name: childText(task, 'name') ?? '',
      status: childText(task, 'status') ?? '',
      progress: Number.isFinite(progress) ? progress : -1,
      currentReport: reportRef(child(task, 'current_report')),
      lastReport: reportRef(child(task, 'last_report')),
    };
  }

  async deleteTask(taskId: string): Promise<void> {
    await this.command('delete_task', `<delete_task task_id="${xmlEscape(taskId)}" ultimate="1"/>`, {
      about: `of task ${taskId}`,
    });
  }

  async deleteTarget(targetId: string): Promise<void> {
    await this.command('delete_target', `<delete_target target_id="${xmlEscape(targetId)}" ultimate="1"/>`, {
      about: `of target ${targetId}`,
    });
  }

  /**
   * Downloads a report in gvmd's XML format to `file` as it arrives, refusing it past
   * `maxBytes`; nothing is left on disk when it fails.
   */
  async downloadReport(
    reportId: string,
    opts: { formatId: string; filter: string; file: string; maxBytes: number; tooLarge: ErrorDetail[] },
  ): Promise<SpooledReport> {
    const what = this.what('get_reports', `of report ${reportId}`);
    const xml =
      `<get_reports report_id="${xmlEscape(reportId)}" format_id="${xmlEscape(opts.formatId)}"` +
      ` details="1" ignore_pagination="1" filter="${xmlEscape(opts.filter)}"/>`;
    const framer = new AnswerFramer(what, {
      span: 'report',
      watch: new Set(['report/report']),
      capture: new Set(['report/report/scan_start', 'report/report/timestamp', 'report/report/scan_run_status']),
    });
    const sink = new FileSink(
      opts.file,
      opts.maxBytes,
      () =>
        new InputError(
          `${what}: the report is larger than maxReportBytes (${opts.maxBytes} bytes); raise maxReportBytes or scan fewer hosts at a time`,
          opts.tooLarge,
        ),
    );
    try {
      await this.conn.exchange(xml, framer, sink, this.signal);
      await sink.finish();
      const root = framer.root!;
      checkAnswer(what, 'get_reports', root.name, {
        ...root.attributes,
        status_text: utf8(root.attributes['status_text'] ?? ''),
      });
      if (framer.span?.end === undefined)
        throw new UpstreamError(`${what}: gvmd's answer holds no report`, { retryable: false });
      if (!framer.seen.has('report/report'))
        throw new UpstreamError(
          `${what}: gvmd did not send the report as XML (format ${framer.span.attributes['format_id'] ?? 'unknown'})`,
          { retryable: false },
        );
      return {
        file: opts.file,
        start: framer.span.start,
        end: framer.span.end,
        bytes: sink.size,
        scanStart: framer.texts.get('report/report/scan_start') || undefined,
        timestamp: framer.texts.get('report/report/timestamp') || undefined,
        scanRunStatus: framer.texts.get('report/report/scan_run_status') || undefined,
      };
    } catch (err) {
      sink.abort();
      await rm(opts.file, { force: true });
      throw err;
    }
  }
}

/** Opens a connection per session, authenticates first as GMP asks, and closes it when the session ends. */
export class GmpClient {
  constructor(private readonly opts: GmpClientOptions) {}

  get where(): string {
    return describeEndpoint(this.opts.endpoint);
  }

  async session<T>(work: (s: GmpSession) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const conn = await GmpConnection.open(this.opts.endpoint, this.opts.timeoutMs, signal);
    try {
      const session = new GmpSession(conn, signal);
      await session.authenticate(this.opts.username, this.opts.password);
      return await work(session);
    } finally {
      conn.close();
    }
  }
}
