/**
 * Greenbone's gvmd speaking GMP, the Greenbone Management Protocol, on a unix socket in a temp
 * dir and, when asked, on TLS at 127.0.0.1 with a self-signed certificate the openssl CLI makes.
 * What it follows (answers are written here from those descriptions, not copied from them):
 * - GMP 22.4 reference, https://docs.greenbone.net/API/GMP/gmp-22.4.html: `authenticate` (the
 *   first command of a connection; only `get_version` may come before it; bad credentials answer
 *   400 "Authentication failed"), `get_version`, `create_target` (name, comma-separated hosts,
 *   port_list id, alive_tests; 201 with the new id), `create_task` (name, config, target,
 *   scanner), `start_task` (202 with a report_id), `stop_task`, `get_tasks` (status: Requested,
 *   Queued, Running, Stop Requested, Stopped, Interrupted, Done; progress), `get_reports` (a
 *   report in the XML format a994b278-1f62-11e1-96ac-406186ea4fc5: report > report with
 *   scan_start, results > result with host, port, nvt (severities, solution, refs), severity,
 *   qod, then one host per scanned host with start, end and detail name/value pairs such as
 *   best_os_cpe, best_os_txt and MAC), `delete_task` / `delete_target` (ultimate="1").
 * - Status codes and texts from gvmd's gmp_base.h (https://github.com/greenbone/gvmd): 200 "OK",
 *   201 "OK, resource created", 202 "OK, request submitted", 401 "Authenticate first", 404
 *   "Failed to find <type> '<id>'" (gmp.c), and `<gmp_response>` for a command it does not know.
 * - Transports, https://greenbone.github.io/gvm-tools/connectiontypes.html: the unix socket
 *   (/run/gvmd/gvmd.sock on Community Edition 22.4) and TLS on 9390; python-gvm
 *   (https://github.com/greenbone/python-gvm) reads an answer until its root element closes,
 *   as the stream has no other framing.
 * - Report filters (levels c/h/m/l/g, min_qod, first/rows unless ignore_pagination="1"; results
 *   only with details="1") as the GMP reference describes `get_reports`.
 * A run moves on with `get_tasks` reads, never with time: the first read after start_task says
 * Requested, the next ones Running with rising progress, and after `readsToFinish` reads the run
 * ends as `endStatus`; the report is made from the ScanWorld at that moment. Hosts a target names
 * that the world does not have are down: no result and no host element for them.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import tls from 'node:tls';
import { SaxesParser } from 'saxes';
import type { EmulatedHost, EmulatedVulnerability, ScanWorld } from './scan-world.ts';

export const gmpIds = {
  xmlReportFormat: 'a994b278-1f62-11e1-96ac-406186ea4fc5',
  allIanaTcp: '33d0cd82-57c6-11e1-8ed1-406186ea4fc5',
  fullAndFast: 'daba56c8-73ec-11df-a475-002264764cea',
  openvasScanner: '08b69003-5fc2-4037-a479-93b440211c73',
} as const;

const aliveTests = new Set([
  'Scan Config Default',
  'ICMP Ping',
  'TCP-ACK Service Ping',
  'TCP-SYN Service Ping',
  'ARP Ping',
  'ICMP & TCP-ACK Service Ping',
  'ICMP & ARP Ping',
  'TCP-ACK Service & ARP Ping',
  'ICMP, TCP-ACK Service & ARP Ping',
  'Consider Alive',
]);

export interface GmpEmulatorOptions {
  username: string;
  password: string;
  /** get_tasks reads after start_task until the run ends (at least 2: Requested, then the end). */
  readsToFinish?: number;
  /** How a run ends: Done with a report, or Stopped / Interrupted as gvmd says when a scan breaks off. */
  endStatus?: 'Done' | 'Stopped' | 'Interrupted';
  version?: string;
  /** gvmd 23 and later: severities of 9.0 and above are a level of their own, "c" (Critical). */
  criticalLevel?: boolean;
  /** Also serve GMP over TLS on 127.0.0.1. */
  tls?: boolean;
}

/** A target as create_target made it; kept after deletion, so that tests can see what each scan named. */
export interface EmulatedTarget {
  id: string;
  name: string;
  hosts: string[];
  portListId: string;
  aliveTests: string;
}

interface Task {
  id: string;
  name: string;
  targetId: string;
  configId: string;
  scannerId: string;
  status: string;
  progress: number;
  reads: number;
  reportId?: string;
  scanStart?: string;
  scanEnd?: string;
  /** What the run found, fixed when it ends. */
  found?: EmulatedHost[];
}

interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
}

interface Session {
  authenticated: boolean;
  commands: string[];
}

const esc = (s: string | number) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const kid = (el: Element, name: string) => el.children.find((c) => c.name === name);
const kidText = (el: Element, name: string) => kid(el, name)?.text.trim() ?? '';

const commandEnd = Symbol('command end');

/**
 * The first complete command element in `text`, and how many characters it took; `undefined`
 * while it is incomplete, `null` when the text is not XML.
 */
function readCommand(text: string): { command: Element; length: number } | undefined | null {
  const parser = new SaxesParser({ position: true });
  const stack: Element[] = [];
  let done: { command: Element; length: number } | undefined;
  parser.on('opentag', (tag) => {
    const el: Element = {
      name: tag.name,
      attrs: { ...(tag.attributes as Record<string, string>) },
      children: [],
      text: '',
    };
    stack.at(-1)?.children.push(el);
    stack.push(el);
  });
  parser.on('text', (t) => {
    const top = stack.at(-1);
    if (top) top.text += t;
  });
  parser.on('closetag', () => {
    const el = stack.pop()!;
    if (stack.length === 0) {
      done = { command: el, length: parser.position };
      throw commandEnd;
    }
  });
  try {
    parser.write(text);
  } catch (err) {
    if (err === commandEnd) return done;
    return null;
  }
  return undefined;
}

/** Severity scores gvmd would report for the world's 0–4 scale, when a vulnerability names no CVSS base score. */
const defaultScore = [0, 2.6, 5.0, 7.5, 9.8] as const;

/** A CPE 2.2 name for the operating systems the tests use; good enough for a best_os_cpe detail. */
function osCpe(os: string): string {
  const t = os.toLowerCase();
  const server = /windows server (\d{4})/.exec(t);
  if (server) return `cpe:/o:microsoft:windows_server_${server[1]}`;
  const desktop = /windows (\d+)/.exec(t);
  if (desktop) return `cpe:/o:microsoft:windows_${desktop[1]}`;
  const ubuntu = /ubuntu[^\d]*(\d+\.\d+)/.exec(t);
  if (ubuntu) return `cpe:/o:canonical:ubuntu_linux:${ubuntu[1]}`;
  const debian = /debian[^\d]*(\d+)/.exec(t);
  if (debian) return `cpe:/o:debian:debian_linux:${debian[1]}`;
  const rhel = /red hat enterprise linux[^\d]*(\d+)/.exec(t);
  if (rhel) return `cpe:/o:redhat:enterprise_linux:${rhel[1]}`;
  return `cpe:/o:${t.replace(/[^a-z0-9.]+/g, '_')}`;
}

/** Parses a GMP filter term into its keywords (`levels=hml rows=-1 …`). */
function filterKeywords(term: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const word of term.split(/\s+/).filter(Boolean)) {
    const m = /^([a-z_-]+)=(.*)$/.exec(word);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

interface EmulatedResult {
  host: EmulatedHost;
  vuln: EmulatedVulnerability;
  score: number;
  level: 'c' | 'h' | 'm' | 'l' | 'g';
  threat: string;
  qod: number;
}

export class GmpEmulator {
  socketPath = '';
  /** TLS port on 127.0.0.1 (with `tls: true`). */
  tlsPort = 0;
  /** The self-signed certificate gvmd presents over TLS: what a client trusts as its caFile. */
  certFile = '';
  /** Every command received, in order, and each connection's commands. */
  readonly commands: string[] = [];
  readonly sessions: string[][] = [];
  readonly targets: EmulatedTarget[] = [];
  /** Task ids named by stop_task. */
  readonly stops: string[] = [];
  readonly deletions: { kind: 'task' | 'target'; id: string; ultimate: string }[] = [];
  /** The attributes of every get_reports. */
  readonly reportRequests: Record<string, string>[] = [];
  /** Each started run: its task, report and when gvmd says it started. */
  readonly runs: { taskId: string; reportId: string; scanStart: string }[] = [];

  private readonly tasks = new Map<string, Task>();
  private readonly liveTargets = new Map<string, EmulatedTarget>();
  private readonly failures = new Map<string, { status: number; text: string }>();
  private readonly holds = new Map<string, () => void>();
  private readonly sockets = new Set<net.Socket>();
  private readonly servers: net.Server[] = [];
  private dir = '';

  constructor(
    private readonly world: ScanWorld,
    private readonly opts: GmpEmulatorOptions,
  ) {}

  async start(): Promise<this> {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'gmp-emulator-'));
    this.socketPath = path.join(this.dir, 'gvmd.sock');
    const unix = net.createServer((s) => this.serve(s));
    await new Promise<void>((resolve) => unix.listen(this.socketPath, resolve));
    this.servers.push(unix);
    if (this.opts.tls) {
      const key = path.join(this.dir, 'key.pem');
      this.certFile = path.join(this.dir, 'cert.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          key,
          '-out',
          this.certFile,
          '-days',
          '2',
          '-subj',
          '/CN=gvmd.test',
          '-addext',
          'subjectAltName=DNS:gvmd.test,DNS:localhost,IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      const secure = tls.createServer({ key: readFileSync(key), cert: readFileSync(this.certFile) }, (s) =>
        this.serve(s),
      );
      secure.on('tlsClientError', () => {});
      await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
      this.tlsPort = (secure.address() as net.AddressInfo).port;
      this.servers.push(secure);
    }
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The next `command` is answered with this status and text instead of being carried out. */
  failNext(command: string, status: number, text: string): void {
    this.failures.set(command, { status, text });
  }

  /**
   * The next `command` is never answered, as when gvmd hangs; the promise resolves when it has
   * arrived, so that a test can act while the client waits.
   */
  holdNext(command: string): Promise<void> {
    return new Promise((resolve) => this.holds.set(command, resolve));
  }

  /** Tasks and targets that still exist: what a scan left behind. */
  get remaining(): { tasks: number; targets: number } {
    return { tasks: this.tasks.size, targets: this.liveTargets.size };
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const session: Session = { authenticated: false, commands: [] };
    this.sessions.push(session.commands);
    const decoder = new StringDecoder('utf8');
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += decoder.write(chunk);
      for (;;) {
        const read = readCommand(pending);
        if (read === undefined) return;
        if (read === null) {
          socket.end('<gmp_response status="400" status_text="XML syntax error"/>');
          return;
        }
        pending = pending.slice(read.length);
        const answer = this.answer(session, read.command);
        if (answer !== undefined) socket.write(answer);
      }
    });
  }

  private answer(session: Session, cmd: Element): string | undefined {
    const name = cmd.name;
    this.commands.push(name);
    session.commands.push(name);
    const hold = this.holds.get(name);
    if (hold) {
      this.holds.delete(name);
      hold();
      return undefined;
    }
    const injected = this.failures.get(name);
    if (injected) {
      this.failures.delete(name);
      return `<${name}_response status="${injected.status}" status_text="${esc(injected.text)}"/>`;
    }
    if (name === 'get_version') return this.ok(name, `<version>${esc(this.opts.version ?? '22.4')}</version>`);
    if (name === 'authenticate') {
      const credentials = kid(cmd, 'credentials');
      const good =
        !!credentials &&
        kidText(credentials, 'username') === this.opts.username &&
        kid(credentials, 'password')?.text === this.opts.password;
      if (!good) return `<authenticate_response status="400" status_text="Authentication failed"/>`;
      session.authenticated = true;
      return this.ok(name, '<role>Admin</role><timezone>UTC</timezone>');
    }
    if (!session.authenticated) return `<gmp_response status="401" status_text="Authenticate first"/>`;
    switch (name) {
      case 'create_target':
        return this.createTarget(cmd);
      case 'create_task':
        return this.createTask(cmd);
      case 'start_task':
        return this.withTask(cmd, (t) => this.startTask(t));
      case 'stop_task':
        return this.withTask(cmd, (t) => this.stopTask(t));
      case 'get_tasks':
        return this.withTask(cmd, (t) => this.ok(name, `<apply_overrides>0</apply_overrides>${this.readTask(t)}`));
      case 'get_reports':
        return this.getReports(cmd);
      case 'delete_task':
        return this.withTask(cmd, (t) => {
          this.tasks.delete(t.id);
          this.deletions.push({ kind: 'task', id: t.id, ultimate: cmd.attrs['ultimate'] ?? '' });
          return this.ok(name);
        });
      case 'delete_target':
        return this.deleteTarget(cmd);
      default:
        return `<gmp_response status="400" status_text="Bogus command name"/>`;
    }
  }

  private ok(command: string, inner = '', status = '200 OK'): string {
    const [code, ...text] = status.split(' ');
    return `<${command}_response status="${code}" status_text="${esc(text.join(' '))}">${inner}</${command}_response>`;
  }

  private refuse(command: string, status: number, text: string): string {
    return `<${command}_response status="${status}" status_text="${esc(text)}"/>`;
  }

  private createTarget(cmd: Element): string {
    const c = 'create_target';
    const name = kidText(cmd, 'name');
    const hosts = kidText(cmd, 'hosts')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const portListId = kid(cmd, 'port_list')?.attrs['id'] ?? '';
    const alive = kidText(cmd, 'alive_tests') || 'Scan Config Default';
    if (!name) return this.refuse(c, 400, 'CREATE_TARGET requires a NAME');
    if (hosts.length === 0) return this.refuse(c, 400, 'CREATE_TARGET requires a host');
    if (portListId !== gmpIds.allIanaTcp) return this.refuse(c, 404, `Failed to find port_list '${portListId}'`);
    if (!aliveTests.has(alive)) return this.refuse(c, 400, 'Error in alive test');
    if ([...this.liveTargets.values()].some((t) => t.name === name))
      return this.refuse(c, 400, 'Target exists already');
    const target: EmulatedTarget = { id: randomUUID(), name, hosts, portListId, aliveTests: alive };
    this.targets.push(target);
    this.liveTargets.set(target.id, target);
    return `<${c}_response status="201" status_text="OK, resource created" id="${target.id}"/>`;
  }

  private createTask(cmd: Element): string {
    const c = 'create_task';
    const name = kidText(cmd, 'name');
    const configId = kid(cmd, 'config')?.attrs['id'] ?? '';
    const targetId = kid(cmd, 'target')?.attrs['id'] ?? '';
    const scannerId = kid(cmd, 'scanner')?.attrs['id'] ?? '';
    if (!name) return this.refuse(c, 400, 'CREATE_TASK requires a name attribute');
    if (configId !== gmpIds.fullAndFast) return this.refuse(c, 404, `Failed to find config '${configId}'`);
    if (!this.liveTargets.has(targetId)) return this.refuse(c, 404, `Failed to find target '${targetId}'`);
    if (scannerId !== gmpIds.openvasScanner) return this.refuse(c, 404, `Failed to find scanner '${scannerId}'`);
    const task: Task = { id: randomUUID(), name, targetId, configId, scannerId, status: 'New', progress: -1, reads: 0 };
    this.tasks.set(task.id, task);
    return `<${c}_response status="201" status_text="OK, resource created" id="${task.id}"/>`;
  }

  private withTask(cmd: Element, act: (task: Task) => string): string {
    const id = cmd.attrs['task_id'] ?? '';
    const task = this.tasks.get(id);
    return task ? act(task) : this.refuse(cmd.name, 404, `Failed to find task '${id}'`);
  }

  private isActive(t: Task): boolean {
    return ['Requested', 'Queued', 'Running', 'Stop Requested'].includes(t.status);
  }

  private startTask(t: Task): string {
    if (this.isActive(t)) return this.refuse('start_task', 400, 'Task is active already');
    Object.assign(t, {
      status: 'Requested',
      progress: 0,
      reads: 0,
      reportId: randomUUID(),
      scanStart: iso(new Date()),
    });
    delete t.found;
    this.runs.push({ taskId: t.id, reportId: t.reportId!, scanStart: t.scanStart! });
    return this.ok('start_task', `<report_id>${t.reportId}</report_id>`, '202 OK, request submitted');
  }

  private stopTask(t: Task): string {
    this.stops.push(t.id);
    if (!this.isActive(t)) return this.refuse('stop_task', 400, 'Task is not running');
    t.status = 'Stop Requested';
    return this.ok('stop_task', '', '202 OK, request submitted');
  }

  /** One get_tasks read: it answers the run's state and moves it on. */
  private readTask(t: Task): string {
    const shown = { status: t.status, progress: t.progress };
    if (t.status === 'Stop Requested') {
      t.status = 'Stopped';
      t.progress = -1;
    } else if (t.status === 'Requested' || t.status === 'Running') {
      t.reads += 1;
      const toFinish = Math.max(2, this.opts.readsToFinish ?? 3);
      if (t.reads >= toFinish) {
        this.endRun(t, this.opts.endStatus ?? 'Done');
        Object.assign(shown, { status: t.status, progress: t.progress });
      } else if (t.reads > 1) {
        t.status = 'Running';
        t.progress = Math.floor((100 * (t.reads - 1)) / toFinish);
        Object.assign(shown, { status: t.status, progress: t.progress });
      } else {
        t.status = 'Running';
      }
    }
    const target = this.liveTargets.get(t.targetId);
    const report =
      t.reportId && t.scanStart
        ? `<report id="${t.reportId}"><timestamp>${t.scanStart}</timestamp><scan_start>${t.scanStart}</scan_start>` +
          `<scan_end>${t.scanEnd ?? ''}</scan_end></report>`
        : '';
    return (
      `<task id="${t.id}"><owner><name>${esc(this.opts.username)}</name></owner><name>${esc(t.name)}</name>` +
      `<comment/><creation_time>${t.scanStart ?? iso(new Date())}</creation_time><writable>1</writable><in_use>0</in_use>` +
      `<status>${shown.status}</status><progress>${shown.progress}</progress><alterable>0</alterable><usage_type>scan</usage_type>` +
      `<config id="${t.configId}"><name>Full and fast</name></config>` +
      `<target id="${t.targetId}"><name>${esc(target?.name ?? '')}</name></target>` +
      `<scanner id="${t.scannerId}"><name>OpenVAS Default</name><type>2</type></scanner>` +
      `<report_count>${t.reportId ? 1 : 0}<finished>${t.status === 'Done' ? 1 : 0}</finished></report_count>` +
      (this.isActive(t) && report ? `<current_report>${report}</current_report>` : '') +
      (t.status === 'Done' ? `<last_report>${report}</last_report>` : '') +
      `</task>`
    );
  }

  private endRun(t: Task, status: 'Done' | 'Stopped' | 'Interrupted'): void {
    t.status = status;
    t.progress = -1;
    t.scanEnd = iso(new Date());
    const seen = new Set<string>();
    t.found = [];
    for (const name of this.liveTargets.get(t.targetId)?.hosts ?? []) {
      const host = this.world.find(name);
      if (host && !seen.has(host.ip)) {
        seen.add(host.ip);
        // A copy: the report says what the scan saw, whatever happens to the world afterwards.
        t.found.push({ ...host, vulnerabilities: host.vulnerabilities.map((v) => ({ ...v })) });
      }
    }
  }

  private deleteTarget(cmd: Element): string {
    const c = 'delete_target';
    const id = cmd.attrs['target_id'] ?? '';
    if (!this.liveTargets.has(id)) return this.refuse(c, 404, `Failed to find target '${id}'`);
    if ([...this.tasks.values()].some((t) => t.targetId === id)) return this.refuse(c, 400, 'Target is in use');
    this.liveTargets.delete(id);
    this.deletions.push({ kind: 'target', id, ultimate: cmd.attrs['ultimate'] ?? '' });
    return this.ok(c);
  }

  private classify(host: EmulatedHost, vuln: EmulatedVulnerability): EmulatedResult {
    const score = vuln.cvss3BaseScore ?? defaultScore[vuln.severity];
    const critical = this.opts.criticalLevel ?? true;
    const level = score >= 9 && critical ? 'c' : score >= 7 ? 'h' : score >= 4 ? 'm' : score > 0 ? 'l' : 'g';
    const threat = { c: 'Critical', h: 'High', m: 'Medium', l: 'Low', g: 'Log' }[level];
    return { host, vuln, score, level, threat, qod: 80 };
  }

  private getReports(cmd: Element): string {
    const c = 'get_reports';
    this.reportRequests.push({ ...cmd.attrs });
    const reportId = cmd.attrs['report_id'] ?? '';
    const task = [...this.tasks.values()].find((t) => t.reportId === reportId);
    if (!task) return this.refuse(c, 404, `Failed to find report '${reportId}'`);
    const formatId = cmd.attrs['format_id'] ?? gmpIds.xmlReportFormat;
    if (formatId !== gmpIds.xmlReportFormat)
      return this.refuse(c, 400, 'this emulator serves reports in the XML format only');
    const term = cmd.attrs['filter'] ?? '';
    const kw = filterKeywords(term);
    const levels = kw.get('levels') ?? 'hml';
    const minQod = Number(kw.get('min_qod') ?? 70);
    const details = cmd.attrs['details'] === '1';
    const all = (task.found ?? []).flatMap((h) => h.vulnerabilities.map((v) => this.classify(h, v)));
    let results = all.filter((r) => levels.includes(r.level) && r.qod >= minQod).sort((a, b) => b.score - a.score);
    if (cmd.attrs['ignore_pagination'] !== '1') {
      const first = Math.max(1, Number(kw.get('first') ?? 1));
      const rows = Number(kw.get('rows') ?? 10);
      results = results.slice(first - 1, rows < 0 ? undefined : first - 1 + rows);
    }
    const target = this.liveTargets.get(task.targetId);
    const hosts = task.found ?? [];
    const count = (list: EmulatedResult[], lvl: string) => list.filter((r) => r.level === lvl).length;
    const resultCount =
      `<result_count>${all.length}<full>${all.length}</full><filtered>${results.length}</filtered>` +
      (['c', 'h', 'm', 'l', 'g'] as const)
        .map((l) => {
          const tag = { c: 'critical', h: 'high', m: 'medium', l: 'low', g: 'log' }[l];
          return `<${tag}><full>${count(all, l)}</full><filtered>${count(results, l)}</filtered></${tag}>`;
        })
        .join('') +
      `</result_count>`;
    const ports = new Map<string, EmulatedResult>();
    for (const r of results) ports.set(`${this.location(r.vuln)} ${r.host.ip}`, r);
    const inner =
      `<gmp><version>${esc(this.opts.version ?? '22.4')}</version></gmp>` +
      `<sort><field>severity<order>descending</order></field></sort>` +
      `<filters id=""><term>${esc(term)}</term></filters>` +
      `<scan_run_status>${task.status}</scan_run_status>` +
      `<hosts><count>${hosts.length}</count></hosts><vulns><count>${new Set(all.map((r) => r.vuln.pluginId)).size}</count></vulns>` +
      `<task id="${task.id}"><name>${esc(task.name)}</name><comment/>` +
      `<target id="${task.targetId}"><trash>0</trash><name>${esc(target?.name ?? '')}</name><comment/></target>` +
      `<progress>${task.status === 'Done' ? 100 : Math.max(0, task.progress)}</progress></task>` +
      `<timestamp>${task.scanStart ?? ''}</timestamp><scan_start>${task.scanStart ?? ''}</scan_start>` +
      `<timezone>UTC</timezone><timezone_abbrev>UTC</timezone_abbrev>` +
      `<ports start="1" max="-1"><count>${ports.size}</count>` +
      [...ports.values()]
        .map(
          (r) =>
            `<port>${esc(this.location(r.vuln))}<host>${r.host.ip}</host><severity>${r.score.toFixed(1)}</severity><threat>${r.threat}</threat></port>`,
        )
        .join('') +
      `</ports>` +
      resultCount +
      (details
        ? `<results start="1" max="-1">${results.map((r) => this.result(r, task)).join('')}</results>` +
          hosts.map((h) => this.hostXml(h, task, results)).join('')
        : '') +
      `<scan_end>${task.scanEnd ?? ''}</scan_end><errors><count>0</count></errors>`;
    return this.ok(
      c,
      `<report id="${reportId}" format_id="${formatId}" extension="xml" content_type="text/xml">` +
        `<owner><name>${esc(this.opts.username)}</name></owner><name>${task.scanStart ?? ''}</name><comment/>` +
        `<creation_time>${task.scanStart ?? ''}</creation_time><modification_time>${task.scanEnd ?? ''}</modification_time>` +
        `<writable>0</writable><in_use>0</in_use><task id="${task.id}"><name>${esc(task.name)}</name></task>` +
        `<report_format id="${formatId}"><name>XML</name></report_format>` +
        `<report id="${reportId}">${inner}</report></report>` +
        `<filters id=""><term>${esc(term)}</term></filters><sort><field>name<order>ascending</order></field></sort>` +
        `<reports start="1" max="1"/><report_count>1<filtered>1</filtered><page>1</page></report_count>`,
    );
  }

  private location(v: EmulatedVulnerability): string {
    return v.port ? `${v.port}/${v.protocol ?? 'tcp'}` : `general/${v.protocol ?? 'tcp'}`;
  }

  private result(r: EmulatedResult, task: Task): string {
    const v = r.vuln;
    const h = r.host;
    const score = r.score.toFixed(1);
    const severities = v.cvss3Vector
      ? `<severity type="cvss_base_v3"><origin/><date>${task.scanStart}</date><score>${score}</score><value>${esc(v.cvss3Vector)}</value></severity>`
      : '';
    const refs =
      v.cves.map((id) => `<ref type="cve" id="${esc(id)}"/>`).join('') +
      (v.seeAlso ?? []).map((url) => `<ref type="url" id="${esc(url)}"/>`).join('');
    const solution = v.solution ?? (v.mskb?.length ? `Install ${v.mskb.join(', ')}` : 'Apply the vendor update.');
    return (
      `<result id="${randomUUID()}"><name>${esc(v.name)}</name><owner><name>${esc(this.opts.username)}</name></owner>` +
      `<modification_time>${task.scanEnd}</modification_time><comment/><creation_time>${task.scanEnd}</creation_time>` +
      `<host>${h.ip}<asset asset_id="${randomUUID()}"/><hostname>${esc(h.fqdn ?? h.hostname)}</hostname></host>` +
      `<port>${esc(this.location(v))}</port>` +
      `<nvt oid="${esc(v.pluginId)}"><type>nvt</type><name>${esc(v.name)}</name><family>General</family>` +
      `<cvss_base>${score}</cvss_base><severities score="${score}">${severities}</severities>` +
      `<tags>summary=${esc(v.name)}|insight=The installed version is affected.|solution_type=VendorFix</tags>` +
      `<solution type="VendorFix">${esc(solution)}</solution><refs>${refs}</refs></nvt>` +
      `<scan_nvt_version>${task.scanStart}</scan_nvt_version><threat>${r.threat}</threat><severity>${score}</severity>` +
      `<qod><value>${r.qod}</value><type>remote_banner</type></qod>` +
      `<description>${esc(`${v.name} detected on ${h.hostname}.`)}</description>` +
      `<original_threat>${r.threat}</original_threat><original_severity>${score}</original_severity>` +
      `<compliance>undefined</compliance></result>`
    );
  }

  private hostXml(h: EmulatedHost, task: Task, results: EmulatedResult[]): string {
    const source = (oid: string, what: string) =>
      `<source><type>nvt</type><name>${oid}</name><description>${what}</description></source><extra/>`;
    const detail = (name: string, value: string, oid: string, what: string) =>
      `<detail><name>${name}</name><value>${esc(value)}</value>${source(oid, what)}</detail>`;
    const names = [...new Set([h.fqdn, h.hostname].filter((n): n is string => !!n))];
    const mine = results.filter((r) => r.host.ip === h.ip);
    return (
      `<host><ip>${h.ip}</ip><asset asset_id="${randomUUID()}"/><start>${task.scanStart}</start><end>${task.scanEnd}</end>` +
      `<port_count><page>${new Set(mine.map((r) => this.location(r.vuln))).size}</page></port_count>` +
      `<result_count><page>${mine.length}</page></result_count>` +
      names.map((n) => detail('hostname', n, '1.3.6.1.4.1.25623.1.0.103997', 'Host Details')).join('') +
      (h.operatingSystem
        ? detail(
            'best_os_cpe',
            osCpe(h.operatingSystem),
            '1.3.6.1.4.1.25623.1.0.105937',
            'OS Detection Consolidation and Reporting',
          ) +
          detail(
            'best_os_txt',
            h.operatingSystem,
            '1.3.6.1.4.1.25623.1.0.105937',
            'OS Detection Consolidation and Reporting',
          )
        : '') +
      (h.mac ? detail('MAC', h.mac, '1.3.6.1.4.1.25623.1.0.103585', 'Nmap MAC Scan') : '') +
      `</host>`
    );
  }
}
