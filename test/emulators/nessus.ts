/**
 * Nessus Manager / Tenable Vulnerability Management on 127.0.0.1: the /scans API family both
 * serve. Shapes come from sessions recorded against cloud.tenable.com by pyTenable
 * (test/fixtures/nessus-api/*.decoded.json, see PROVENANCE.md) and from Tenable's API docs:
 * - Every request carries `X-ApiKeys: accessKey=…; secretKey=…`; anything else is refused with
 *   401 and Nessus's error body `{"error": …}`. https://developer.tenable.com/docs/authorization
 * - Rate limiting: 429 with a `retry-after` header in seconds and an HTML body.
 *   https://developer.tenable.com/docs/rate-limiting
 * - GET /editor/scan/templates (and /editor/policy/templates): the recorded template list.
 *   https://developer.tenable.com/reference/editor-list-templates
 * - GET /policies: user-defined policies with their `template_uuid`.
 *   https://developer.tenable.com/reference/policies-list
 * - GET /scans (folders, scans, timestamp; the recorded imported scans are listed too, and may
 *   not be controlled), POST /scans {uuid, settings:{name, text_targets, enabled, folder_id?,
 *   policy_id?}} → {scan:{…}} as recorded. https://developer.tenable.com/reference/scans-list
 *   https://developer.tenable.com/reference/scans-create https://developer.tenable.com/docs/create-scan-tio
 * - POST /scans/{id}/launch {alt_targets} → {scan_uuid}. Each alt_targets entry is a target or a
 *   comma-separated list of them; they replace the scan's own targets for that run. A scan runs
 *   one instance at a time ("you can only launch a new scan when the previous scan has the
 *   Completed, Aborted, or Canceled status"); a launch meanwhile answers 409 here (the docs name
 *   no status code for it). https://developer.tenable.com/reference/scans-launch
 *   https://developer.tenable.com/docs/launch-scan-tio
 *   https://docs.tenable.com/vulnerability-management/Content/Scans/UnifiedScanConfiguration/LaunchScan.htm
 * - Target limit: an assessment scan may target at most 10 × the licensed asset count (265 per
 *   scan on an evaluation licence); over it, Tenable aborts the scan. `maxTargets` sets it.
 *   https://docs.tenable.com/vulnerability-management/Content/Scans/ScanLimitations.htm
 *   https://docs.tenable.com/other/service-description-guide/Content/cloudplatform/key-descriptions-max-values.htm
 * - GET /scans/{id}[?history_id=] → {info, hosts, vulnerabilities, history, …} as recorded; the
 *   history lists each run (history_id, uuid, status, creation_date, last_modification_date, …),
 *   newest first as the cloud lists it. Statuses: pending → running → completed, or aborted /
 *   canceled. https://developer.tenable.com/reference/scans-details https://developer.tenable.com/docs/scan-status-tio
 * - POST /scans/{id}/stop: a pending or running run becomes canceled; 409 when none is.
 *   https://developer.tenable.com/reference/scans-stop
 * - POST /scans/{id}/export[?history_id=] {format:"nessus"} → {file}; GET …/export/{file}/status
 *   → {status:"loading"|"ready"}; GET …/export/{file}/download → the .nessus v2 report,
 *   application/octet-stream, written host by host. https://developer.tenable.com/reference/scans-export-request
 *   https://developer.tenable.com/reference/scans-export-status https://developer.tenable.com/reference/scans-export-download
 * - GET /session: the keys' user. https://pytenable.readthedocs.io/en/stable/api/io/session.html
 *
 * What a run finds comes from the ScanWorld at the moment the run completes: a target that names
 * no host is left out of the report, as Nessus leaves out dead hosts. The report is modelled on
 * the recorded export (NessusClientData_v2 > Policy, Report > ReportHost > HostProperties,
 * ReportItem*), each host with Nessus's "Nessus Scan Information" item. The world carries no
 * dates, so every finding has the same placeholder plugin and patch publication dates.
 * Runs advance only when their scan's details are read, never with time, so tests poll, not sleep.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { HttpEmulator } from './http-emulator.ts';
import type { EmulatedHost, EmulatedVulnerability, ScanWorld } from './scan-world.ts';

interface Recorded {
  interactions: { request: { method: string; uri: string }; response: { body: unknown } }[];
}

function cassette(name: string): Recorded {
  return JSON.parse(readFileSync(new URL(`../fixtures/nessus-api/${name}`, import.meta.url), 'utf8')) as Recorded;
}

/** A recorded answer's body, by the request that got it. */
function recorded<T>(from: Recorded, method: string, path: string): T {
  const hit = from.interactions.find((i) => i.request.method === method && new URL(i.request.uri).pathname === path);
  if (!hit) throw new Error(`no recorded ${method} ${path}`);
  return hit.response.body as T;
}

type Row = Record<string, unknown>;
const createCassette = cassette('pytenable_io_test_scan_create_scan_success.decoded.json');
const resultsCassette = cassette('pytenable_io_test_scan_results.decoded.json');
const exportCassette = cassette('pytenable_io_test_scan_export_bytesio.decoded.json');
const recordedTemplates = recorded<{ templates: Row[] }>(createCassette, 'GET', '/editor/policy/templates').templates;
const recordedCreated = recorded<{ scan: Row }>(createCassette, 'POST', '/scans').scan;
const recordedList = recorded<{ folders: Row[]; scans: Row[] }>(resultsCassette, 'GET', '/scans');
const recordedDetails = recorded<{ info: Row; hosts: Row[]; history: Row[] } & Row>(
  resultsCassette,
  'GET',
  '/scans/175',
);
const recordedExport = recorded<{ file: string }>(exportCassette, 'POST', '/scans/175/export');

export type RunStatus = 'pending' | 'running' | 'completed' | 'aborted' | 'canceled';
const activeStatuses: readonly RunStatus[] = ['pending', 'running'];

export interface EmulatedRun {
  historyId: number;
  uuid: string;
  status: RunStatus;
  /** Epoch seconds, as Nessus states them. */
  creationDate: number;
  lastModificationDate: number;
  targets: string[];
  altTargetsUsed: boolean;
  reads: number;
  /** Set when the run completes: what each target found, in target order. */
  found?: { target: string; host: EmulatedHost }[];
}

export interface EmulatedScan {
  id: number;
  scheduleUuid: string;
  name: string;
  templateUuid: string;
  policyId?: number | undefined;
  folderId: number;
  textTargets: string;
  enabled: boolean;
  creationDate: number;
  lastModificationDate: number;
  /** Newest first, as GET /scans/{id} lists them. */
  runs: EmulatedRun[];
}

interface ExportJob {
  scanId: number;
  run: EmulatedRun;
  reads: number;
}

export interface NessusEmulatorOptions {
  accessKey: string;
  secretKey: string;
  /** Reads of the scan's details before a launched run completes; the first reads show it running. */
  pollsToFinish?: number;
  /** Status reads before an export is ready. */
  exportPollsToReady?: number;
  /** Most targets one run may have (the licence's limit); a run over it is aborted. */
  maxTargets?: number;
  /** User-defined policies (GET /policies). */
  policies?: { id: number; name: string; template_uuid: string }[];
  username?: string;
}

const severityNames = ['None', 'Low', 'Medium', 'High', 'Critical'] as const;
const mainFolder = recordedList.folders.find((f) => f['type'] === 'main')?.['id'] as number;

export class NessusEmulator extends HttpEmulator {
  /** Each launch: the scan and the targets that run scanned (its alt_targets, else the scan's own). */
  readonly launches: { scanId: number; runUuid: string; targets: string[] }[] = [];
  /** Scans whose run was stopped through the API. */
  readonly stops: number[] = [];
  /** Every request as `METHOD /path` (query left out), in order. */
  readonly requests: string[] = [];
  readonly scans: EmulatedScan[] = [];
  /** The last report downloaded, as sent. */
  lastReport = '';
  private readonly exports = new Map<string, ExportJob>();
  private throttled: { remaining: number; retryAfterSeconds: number } | undefined;
  private nextEnd: RunStatus | undefined;
  private nextScanId = 1000;
  private nextHistoryId = 12_164_600;

  constructor(
    private readonly world: ScanWorld,
    private readonly opts: NessusEmulatorOptions,
  ) {
    super('');
  }

  /** The next `count` requests answer 429 with `Retry-After: retryAfterSeconds`, as the cloud's rate limiter does. */
  rateLimitNext(count: number, retryAfterSeconds: number): void {
    this.throttled = { remaining: count, retryAfterSeconds };
  }

  /** The next run to finish ends with this status instead of completing (e.g. `aborted`, as a scanner fault ends it). */
  endNextRunWith(status: Exclude<RunStatus, 'pending' | 'running'>): void {
    this.nextEnd = status;
  }

  /** A run by its uuid, wherever it is. */
  run(uuid: string): EmulatedRun | undefined {
    return this.scans.flatMap((s) => s.runs).find((r) => r.uuid === uuid);
  }

  protected override failureBody() {
    return { contentType: 'application/json', body: JSON.stringify({ error: 'Internal Server Error' }) };
  }

  protected handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    const refuse = (status: number, error: string) => send(status, { error });
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${path}`);

    if (this.throttled && this.throttled.remaining > 0) {
      this.throttled.remaining--;
      res
        .writeHead(429, { 'content-type': 'text/html', 'retry-after': String(this.throttled.retryAfterSeconds) })
        .end(
          '<html><head><title>429 Too Many Requests</title></head><body><h1>429 Too Many Requests</h1></body></html>',
        );
      return;
    }
    if (!this.authorized(req.headers['x-apikeys'])) return void refuse(401, 'Invalid Credentials');

    let body: Record<string, unknown> = {};
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        return void refuse(400, 'Invalid JSON in request body');
      }
    }

    if (method === 'GET' && path === '/session')
      return void send(200, {
        id: 2201492,
        username: this.opts.username ?? 'patchflow@corp.example',
        email: this.opts.username ?? 'patchflow@corp.example',
        name: 'Patchflow',
        type: 'local',
        permissions: 32,
        lastlogin: now(),
      });
    if (method === 'GET' && (path === '/editor/scan/templates' || path === '/editor/policy/templates'))
      return void send(200, { templates: recordedTemplates });
    if (method === 'GET' && path === '/policies')
      return void send(200, {
        policies: (this.opts.policies ?? []).map((p) => ({
          ...p,
          description: null,
          owner: this.opts.username ?? 'patchflow@corp.example',
          visibility: 'private',
          shared: 0,
          user_permissions: 128,
          no_target: 'false',
          creation_date: now(),
          last_modification_date: now(),
        })),
      });
    if (path === '/scans' && method === 'GET') return void send(200, this.list(url));
    if (path === '/scans' && method === 'POST') {
      const created = this.create(body);
      return void (typeof created === 'string' ? refuse(400, created) : send(200, { scan: created }));
    }

    const m = /^\/scans\/(\d+)(?:\/(launch|stop|export)(?:\/([^/]+)\/(status|download))?)?$/.exec(path);
    const scan = m ? this.scans.find((s) => s.id === Number(m[1])) : undefined;
    if (!m || !scan) return void refuse(404, 'The requested file was not found.');
    const [, , action, file, fileAction] = m;
    const active = scan.runs.find((r) => activeStatuses.includes(r.status));

    if (!action && method === 'GET') {
      if (active) this.advance(active);
      const historyId = url.searchParams.get('history_id');
      const run = historyId ? scan.runs.find((r) => r.historyId === Number(historyId)) : scan.runs[0];
      if (historyId && !run) return void refuse(404, 'The requested history was not found.');
      return void send(200, this.details(scan, run));
    }
    if (action === 'launch' && method === 'POST') {
      if (active) return void refuse(409, 'The scan is already running.');
      const targets = Array.isArray(body['alt_targets'])
        ? (body['alt_targets'] as unknown[]).flatMap((t) => splitTargets(String(t)))
        : [];
      return void send(200, { scan_uuid: this.launch(scan, targets).uuid });
    }
    if (action === 'stop' && method === 'POST') {
      if (!active) return void refuse(409, 'The scan is not active.');
      this.finish(active, 'canceled');
      this.stops.push(scan.id);
      return void send(200, {});
    }
    if (action === 'export' && !file && method === 'POST') {
      if (body['format'] !== 'nessus') return void refuse(400, 'Only the nessus format is emulated.');
      const historyId = url.searchParams.get('history_id');
      const run = historyId ? scan.runs.find((r) => r.historyId === Number(historyId)) : scan.runs[0];
      if (!run) return void refuse(404, 'The requested history was not found.');
      if (activeStatuses.includes(run.status)) return void refuse(409, 'The scan is still running.');
      // The recorded file id is `SSE-<run uuid>-nessus`.
      const fileId = recordedExport.file.replace(/^SSE-[0-9a-f-]+-/, `SSE-${run.uuid}-`);
      this.exports.set(fileId, { scanId: scan.id, run, reads: 0 });
      return void send(200, { file: fileId });
    }
    const job = file ? this.exports.get(decodeURIComponent(file)) : undefined;
    if (action === 'export' && file && (!job || job.scanId !== scan.id))
      return void refuse(404, 'The requested file was not found.');
    if (job && fileAction === 'status' && method === 'GET') {
      job.reads++;
      return void send(200, { status: job.reads >= (this.opts.exportPollsToReady ?? 2) ? 'ready' : 'loading' });
    }
    if (job && fileAction === 'download' && method === 'GET') {
      if (job.reads < (this.opts.exportPollsToReady ?? 2)) return void refuse(409, 'The report is not ready yet.');
      return this.download(scan, job.run, res);
    }
    refuse(405, `${method} is not allowed on ${path}`);
  }

  private authorized(header: string | string[] | undefined): boolean {
    if (typeof header !== 'string') return false;
    const pairs = new Map(
      header
        .split(';')
        .map((part) => part.trim())
        .filter(Boolean)
        .map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const),
    );
    return pairs.get('accessKey') === this.opts.accessKey && pairs.get('secretKey') === this.opts.secretKey;
  }

  private list(url: URL) {
    const folderId = url.searchParams.get('folder_id');
    const ours = this.scans
      .filter((s) => !folderId || s.folderId === Number(folderId))
      .map((s) => ({
        ...recordedList.scans[0],
        template_uuid: s.templateUuid,
        control: true,
        read: false,
        status: s.runs[0]?.status ?? 'empty',
        uuid: s.runs[0]?.uuid ?? null,
        schedule_uuid: s.scheduleUuid,
        enabled: s.enabled,
        policy_id: s.policyId ?? null,
        creation_date: s.creationDate,
        last_modification_date: s.lastModificationDate,
        folder_id: s.folderId,
        name: s.name,
        id: s.id,
      }));
    // The recorded account's imported scans stay listed: they cannot be launched, and are not ours.
    const recordedScans = folderId && Number(folderId) !== mainFolder ? [] : recordedList.scans;
    return { folders: recordedList.folders, scans: [...recordedScans, ...ours], timestamp: now() };
  }

  private create(body: Record<string, unknown>): Row | string {
    const settings = (body['settings'] ?? {}) as Record<string, unknown>;
    const uuid = body['uuid'];
    const policyId = settings['policy_id'] === undefined ? undefined : Number(settings['policy_id']);
    const known =
      recordedTemplates.some((t) => t['uuid'] === uuid) ||
      (this.opts.policies ?? []).some((p) => p.template_uuid === uuid);
    if (!known) return `Invalid 'uuid' field: no template ${String(uuid)}`;
    if (typeof settings['name'] !== 'string' || !settings['name']) return "Invalid 'name' field";
    if (typeof settings['text_targets'] !== 'string' || !settings['text_targets'])
      return "Invalid 'text_targets' field";
    if (policyId !== undefined && !(this.opts.policies ?? []).some((p) => p.id === policyId))
      return `Invalid 'policy_id' field: no policy ${policyId}`;
    const scan: EmulatedScan = {
      id: this.nextScanId++,
      scheduleUuid: `template-${randomUUID()}`,
      name: settings['name'],
      templateUuid: String(uuid),
      policyId,
      folderId: settings['folder_id'] === undefined ? mainFolder : Number(settings['folder_id']),
      textTargets: settings['text_targets'],
      enabled: settings['enabled'] !== false,
      creationDate: now(),
      lastModificationDate: now(),
      runs: [],
    };
    this.scans.push(scan);
    return {
      ...recordedCreated,
      uuid: scan.scheduleUuid,
      name: scan.name,
      policy_id: scan.policyId ?? recordedCreated['policy_id'],
      enabled: scan.enabled,
      custom_targets: scan.textTargets,
      owner: this.opts.username ?? 'patchflow@corp.example',
      creation_date: scan.creationDate,
      last_modification_date: scan.lastModificationDate,
      id: scan.id,
    };
  }

  private launch(scan: EmulatedScan, altTargets: string[]): EmulatedRun {
    const targets = altTargets.length ? altTargets : splitTargets(scan.textTargets);
    const run: EmulatedRun = {
      historyId: this.nextHistoryId++,
      uuid: randomUUID(),
      status: 'pending',
      creationDate: now(),
      lastModificationDate: now(),
      targets,
      altTargetsUsed: altTargets.length > 0,
      reads: 0,
    };
    scan.runs.unshift(run);
    scan.lastModificationDate = now();
    this.launches.push({ scanId: scan.id, runUuid: run.uuid, targets });
    return run;
  }

  /** One more look at a run: it shows running, then finishes after `pollsToFinish` looks. */
  private advance(run: EmulatedRun): void {
    run.reads++;
    if (this.opts.maxTargets !== undefined && run.targets.length > this.opts.maxTargets)
      return this.finish(run, 'aborted');
    if (run.reads < (this.opts.pollsToFinish ?? 2)) {
      run.status = 'running';
      run.lastModificationDate = now();
      return;
    }
    const end = this.nextEnd ?? 'completed';
    this.nextEnd = undefined;
    this.finish(run, end);
  }

  private finish(run: EmulatedRun, status: RunStatus): void {
    run.status = status;
    run.lastModificationDate = now();
    // What the network held when the run ended; a later change to the world is a later scan's finding.
    const found: { target: string; host: EmulatedHost }[] = [];
    for (const target of run.targets) {
      const host = this.world.find(target);
      if (host && !found.some((f) => f.host.hostname === host.hostname))
        found.push({ target, host: structuredClone(host) });
    }
    run.found = status === 'completed' ? found : [];
  }

  private details(scan: EmulatedScan, run: EmulatedRun | undefined) {
    const found = run?.found ?? [];
    const hosts = found.map(({ target, host }, i) => hostRow(target, host, i));
    const byPlugin = new Map<string, { v: EmulatedVulnerability; count: number }>();
    for (const { host } of found)
      for (const v of host.vulnerabilities) {
        const seen = byPlugin.get(v.pluginId);
        byPlugin.set(v.pluginId, { v, count: (seen?.count ?? 0) + 1 });
      }
    return {
      ...recordedDetails,
      info: {
        ...recordedDetails.info,
        owner: this.opts.username ?? 'patchflow@corp.example',
        name: scan.name,
        folder_id: scan.folderId,
        control: true,
        edit_allowed: true,
        schedule_uuid: scan.scheduleUuid,
        policy: templateTitle(scan.templateUuid),
        object_id: scan.id,
        hostcount: hosts.length,
        uuid: run?.uuid ?? null,
        status: run?.status ?? 'empty',
        targets: run ? run.targets.join(',') : scan.textTargets,
        alt_targets_used: run?.altTargetsUsed ?? false,
        scan_start: run?.creationDate ?? null,
        scan_end: run && !activeStatuses.includes(run.status) ? run.lastModificationDate : null,
        timestamp: run?.lastModificationDate ?? now(),
      },
      hosts,
      vulnerabilities: [...byPlugin.values()].map(({ v, count }, i) => ({
        count,
        plugin_id: Number(v.pluginId),
        plugin_name: v.name,
        severity: v.severity,
        plugin_family: pluginFamily(v),
        vuln_index: i + 1,
      })),
      history: scan.runs.map((r) => ({
        ...recordedDetails.history[0],
        history_id: r.historyId,
        creation_date: r.creationDate,
        last_modification_date: r.lastModificationDate,
        uuid: r.uuid,
        status: r.status,
        alt_targets_used: r.altTargetsUsed,
      })),
    };
  }

  /** The .nessus v2 report of a run, written host by host as Nessus streams an export. */
  private download(scan: EmulatedScan, run: EmulatedRun, res: http.ServerResponse): void {
    const chunks = nessusReport(scan, run);
    this.lastReport = chunks.join('');
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename=${scan.name}.nessus`,
    });
    for (const chunk of chunks.slice(0, -1)) res.write(chunk);
    res.end(chunks.at(-1));
  }
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** Nessus splits a target list on commas (and the whitespace around them). */
function splitTargets(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((t) => t.trim())
    .filter(Boolean);
}

function templateTitle(uuid: string): string {
  return String(recordedTemplates.find((t) => t['uuid'] === uuid)?.['title'] ?? 'Custom Scan');
}

function pluginFamily(v: EmulatedVulnerability): string {
  return v.mskb?.length ? 'Windows : Microsoft Bulletins' : 'General';
}

function hostRow(target: string, host: EmulatedHost, index: number): Row {
  const count = (s: number) => host.vulnerabilities.filter((v) => v.severity === s).length;
  return {
    ...recordedDetails.hosts[0],
    asset_id: index + 2,
    host_id: index + 2,
    uuid: randomUUID(),
    hostname: target,
    severitycount: { item: [0, 1, 2, 3, 4].map((s) => ({ count: count(s), severitylevel: s })) },
    severity: host.vulnerabilities.length,
    score: host.vulnerabilities.reduce((sum, v) => sum + 10 ** v.severity, 0),
    info: count(0),
    low: count(1),
    medium: count(2),
    high: count(3),
    critical: count(4),
    host_index: index,
  };
}

function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const tag = (name: string, value: string | undefined) =>
  value === undefined ? '' : `<tag name="${xml(name)}">${xml(value)}</tag>`;
const el = (name: string, value: string | number | undefined) =>
  value === undefined ? '' : `<${name}>${xml(String(value))}</${name}>`;

/** How Nessus writes HOST_START / HOST_END: `Thu Jun 10 11:24:12 2021` (UTC here). */
function nessusTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const [wd, mon] = [d.toUTCString().slice(0, 3), d.toUTCString().slice(8, 11)];
  const day = String(d.getUTCDate()).padStart(2, ' ');
  return `${wd} ${mon} ${day} ${d.toISOString().slice(11, 19)} ${d.getUTCFullYear()}`;
}

function osFamily(os: string | undefined): string {
  if (!os) return 'other';
  return /windows/i.test(os) ? 'windows' : /linux|ubuntu|debian|red hat|centos|suse/i.test(os) ? 'linux' : 'other';
}

function reportItem(v: EmulatedVulnerability): string {
  const attrs = [
    `severity="${v.severity}"`,
    `port="${xml(v.port ?? '0')}"`,
    `pluginFamily="${xml(pluginFamily(v))}"`,
    `pluginName="${xml(v.name)}"`,
    `pluginID="${xml(v.pluginId)}"`,
    `protocol="${xml(v.protocol ?? 'tcp')}"`,
    `svc_name="${v.port && v.port !== '0' ? 'www' : 'general'}"`,
  ].join(' ');
  return (
    `<ReportItem ${attrs}>` +
    el('cvss3_base_score', v.cvss3BaseScore) +
    el('patch_publication_date', v.severity > 0 ? '2024/01/09' : undefined) +
    el('plugin_modification_date', '2024/01/10') +
    el('plugin_publication_date', '2024/01/09') +
    el('plugin_type', v.mskb?.length ? 'local' : 'remote') +
    el('solution', v.solution ?? 'n/a') +
    el('cvss3_vector', v.cvss3Vector) +
    el('description', `${v.name}.`) +
    el('synopsis', v.severity > 0 ? 'The remote host is affected by a vulnerability.' : v.name) +
    v.cves.map((c) => el('cve', c)).join('') +
    (v.mskb ?? []).map((kb) => el('mskb', kb)).join('') +
    el('see_also', v.seeAlso?.length ? v.seeAlso.join('\n') : undefined) +
    el('risk_factor', severityNames[v.severity]) +
    el('script_version', '1.1') +
    '</ReportItem>'
  );
}

/** Plugin 19506, which Nessus adds to every host it scanned. */
function scanInformation(scan: EmulatedScan, run: EmulatedRun): string {
  return (
    '<ReportItem severity="0" port="0" pluginFamily="Settings" pluginName="Nessus Scan Information" pluginID="19506" protocol="tcp" svc_name="general">' +
    el('plugin_type', 'summary') +
    el('risk_factor', 'None') +
    el('solution', 'n/a') +
    el('synopsis', 'This plugin displays information about the Nessus scan.') +
    el(
      'plugin_output',
      `Information about this scan : \n\nScan name : ${scan.name}\nScan policy used : ${templateTitle(scan.templateUuid)}\nScan Start Date : ${nessusTime(run.creationDate)}\n`,
    ) +
    '</ReportItem>'
  );
}

function nessusReport(scan: EmulatedScan, run: EmulatedRun): string[] {
  const policyName = templateTitle(scan.templateUuid);
  const preference = (name: string, value: string) =>
    `<preference><name>${xml(name)}</name><value>${xml(value)}</value></preference>`;
  const head =
    '<?xml version="1.0" ?><NessusClientData_v2><Policy>' +
    `<policyName>${xml(policyName)}</policyName><policyComments/><Preferences><ServerPreferences>` +
    preference('TARGET', run.targets.join(',')) +
    preference('port_range', 'default') +
    preference('wizard_uuid', scan.templateUuid) +
    preference('scan_uuid', run.uuid) +
    preference('name', policyName) +
    '</ServerPreferences><PluginsPreferences/></Preferences></Policy>' +
    `<Report name="${xml(scan.name)}" xmlns:cm="http://www.nessus.org/cm">`;
  const hosts = (run.found ?? []).map(
    ({ target, host }) =>
      `<ReportHost name="${xml(target)}"><HostProperties>` +
      tag('host-ip', host.ip) +
      tag('host-fqdn', host.fqdn) +
      tag('hostname', host.hostname) +
      tag('operating-system', host.operatingSystem) +
      tag('os', osFamily(host.operatingSystem)) +
      tag('mac-address', host.mac) +
      tag('host-uuid', randomUUID()) +
      tag('HOST_START', nessusTime(run.creationDate)) +
      tag('HOST_END', nessusTime(run.lastModificationDate)) +
      tag('policy-used', policyName) +
      tag('Credentialed_Scan', 'false') +
      '</HostProperties>' +
      scanInformation(scan, run) +
      host.vulnerabilities.map(reportItem).join('') +
      '</ReportHost>',
  );
  return [head, ...hosts, '</Report></NessusClientData_v2>'];
}
