/**
 * AWX / Ansible Automation Platform controller, REST API v2, on 127.0.0.1. Shapes come from the
 * AWX API as documented and from real responses (test/fixtures/awx, captured by ansible-ui):
 * - Launching a job template: GET /api/v2/job_templates/{id}/launch/ lists the ask_*_on_launch
 *   prompts; POST with limit, extra_vars and job_type answers 201 with `job` and `ignored_fields`
 *   (runtime values the template does not prompt for are ignored, not refused).
 *   https://docs.ansible.com/ansible-tower/3.0.2/html/towerapi/launch_jobtemplate.html
 * - GET /api/v2/jobs/{id}/ (status pending → running → successful | failed | error | canceled),
 *   POST /api/v2/jobs/{id}/cancel/ (202, or 405 once finished),
 *   GET /api/v2/jobs/{id}/job_host_summaries/ (ok, changed, failures, dark, skipped, processed …),
 *   GET /api/v2/jobs/{id}/job_events/?event__in=… — paginated {count, next, previous, results}.
 *   https://docs.oracle.com/en/operating-systems/oracle-linux-automation-manager/2/olam-api-cli2.1/op-api-v2-job_host_summaries-id-get.html
 *   https://docs.ansible.com/projects/awx/en/24.6.1/userguide/jobs.html
 * - OAuth2 / personal access tokens: `Authorization: Bearer <token>`, 401 otherwise.
 * The job template's playbook is modelled on Patchflow's: `patchflow_action` deploy | verify |
 * rollback over `patchflow_vendor_ref`, idempotent, check mode (job_type=check) changes nothing.
 * A job finishes after a configurable number of status reads, so clients must poll.
 */
import type http from 'node:http';
import job from '../fixtures/awx/job.json' with { type: 'json' };
import jobEvents from '../fixtures/awx/jobEvents.json' with { type: 'json' };
import jobTemplate from '../fixtures/awx/jobTemplate.json' with { type: 'json' };
import jobTemplateLaunch from '../fixtures/awx/jobTemplateLaunch.json' with { type: 'json' };
import { HttpEmulator } from './http-emulator.ts';

interface Host {
  id: number;
  name: string;
  installed: Set<string>;
  failInstall: boolean;
  unreachable: boolean;
}

interface HostSummary {
  host: Host;
  ok: number;
  changed: number;
  failures: number;
  dark: number;
  skipped: number;
  message: string;
}

interface Job {
  id: number;
  limit: string;
  extraVars: Record<string, unknown>;
  jobType: 'run' | 'check';
  status: 'pending' | 'running' | 'successful' | 'failed' | 'error' | 'canceled';
  reads: number;
  summaries: HostSummary[];
  explanation: string;
}

export interface AwxEmulatorOptions {
  token: string;
  jobTemplateId?: number;
  askLimit?: boolean;
  askVariables?: boolean;
  askJobType?: boolean;
  /** Status reads before a launched job finishes. */
  readsToFinish?: number;
  pageSize?: number;
}

export class AwxEmulator extends HttpEmulator {
  readonly launches: { limit: unknown; extra_vars: unknown; job_type: unknown }[] = [];
  readonly cancels: number[] = [];
  hostChanges = 0;
  private readonly hosts: Host[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextJobId = 100;

  constructor(private readonly opts: AwxEmulatorOptions) {
    super('');
  }

  addHost(name: string, opts: { installed?: string[]; failInstall?: boolean; unreachable?: boolean } = {}): void {
    this.hosts.push({
      id: this.hosts.length + 1,
      name,
      installed: new Set(opts.installed ?? []),
      failInstall: opts.failInstall ?? false,
      unreachable: opts.unreachable ?? false,
    });
  }

  isInstalled(name: string, vendorRef: string): boolean {
    return this.hosts.find((h) => h.name === name)?.installed.has(vendorRef) ?? false;
  }

  jobStatus(id: number): string | undefined {
    return this.jobs.get(id)?.status;
  }

  private get templateId(): number {
    return this.opts.jobTemplateId ?? 7;
  }

  protected override failureBody() {
    return { contentType: 'application/json', body: JSON.stringify({ detail: 'A server error occurred.' }) };
  }

  protected handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const url = new URL(req.url ?? '/', this.url);
    const path = url.pathname;
    if (path === '/api/v2/ping/')
      return void send(200, {
        ha: false,
        version: '24.6.1',
        active_node: 'awx-task-1',
        install_uuid: '00000000-0000-0000-0000-000000000001',
      });
    if (req.headers.authorization !== `Bearer ${this.opts.token}`) {
      return void send(401, {
        detail: 'Authentication credentials were not provided. To establish a login session, visit /api/login/.',
      });
    }
    const tpl = `/api/v2/job_templates/${this.templateId}/`;
    const prompts = {
      ask_limit_on_launch: this.opts.askLimit ?? true,
      ask_variables_on_launch: this.opts.askVariables ?? true,
      ask_job_type_on_launch: this.opts.askJobType ?? true,
    };
    if (path === '/api/v2/me/' && req.method === 'GET')
      return void send(200, {
        count: 1,
        next: null,
        previous: null,
        results: [{ id: 1, type: 'user', username: 'patchflow' }],
      });
    if (path === tpl && req.method === 'GET')
      return void send(200, { ...jobTemplate, id: this.templateId, url: tpl, ...prompts });
    if (path === `${tpl}launch/` && req.method === 'GET')
      return void send(200, {
        ...jobTemplateLaunch,
        ...prompts,
        job_template_data: { ...jobTemplateLaunch.job_template_data, id: this.templateId },
      });
    if (path === `${tpl}launch/` && req.method === 'POST') {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        return void send(400, { detail: 'JSON parse error - Expecting value: line 1 column 1 (char 0)' });
      }
      return void send(201, this.launch(body, prompts));
    }
    const m = /^\/api\/v2\/jobs\/(\d+)\/(?:(cancel|job_host_summaries|job_events)\/)?$/.exec(path);
    const found = m ? this.jobs.get(Number(m[1])) : undefined;
    if (!m || !found) return void send(404, { detail: 'Not found.' });
    if (!m[2] && req.method === 'GET') {
      this.advance(found);
      return void send(200, this.jobDetail(found));
    }
    if (m[2] === 'cancel' && req.method === 'POST') {
      if (found.status !== 'pending' && found.status !== 'running')
        return void send(405, { detail: 'Method "POST" not allowed.' });
      found.status = 'canceled';
      found.explanation = 'Job was canceled';
      this.cancels.push(found.id);
      res.writeHead(202).end();
      return;
    }
    if (m[2] === 'job_host_summaries' && req.method === 'GET')
      return void send(200, this.page(url, this.summaryRows(found)));
    if (m[2] === 'job_events' && req.method === 'GET') {
      const wanted = url.searchParams.get('event__in')?.split(',');
      return void send(
        200,
        this.page(
          url,
          this.events(found).filter((e) => !wanted || wanted.includes(e.event)),
        ),
      );
    }
    send(405, { detail: `Method "${req.method}" not allowed.` });
  }

  private launch(body: Record<string, unknown>, prompts: Record<string, boolean>): Record<string, unknown> {
    this.launches.push({ limit: body['limit'], extra_vars: body['extra_vars'], job_type: body['job_type'] });
    const ignored: Record<string, unknown> = {};
    const accept = <T>(field: string, ask: boolean | undefined, fallback: T): T => {
      if (!(field in body)) return fallback;
      if (!ask) {
        ignored[field] = body[field];
        return fallback;
      }
      return body[field] as T;
    };
    const rawVars = accept<unknown>('extra_vars', prompts['ask_variables_on_launch'], {});
    const j: Job = {
      id: this.nextJobId++,
      limit: String(accept('limit', prompts['ask_limit_on_launch'], '')),
      extraVars:
        typeof rawVars === 'string'
          ? (JSON.parse(rawVars) as Record<string, unknown>)
          : (rawVars as Record<string, unknown>),
      jobType: accept<string>('job_type', prompts['ask_job_type_on_launch'], 'run') === 'check' ? 'check' : 'run',
      status: 'pending',
      reads: 0,
      summaries: [],
      explanation: '',
    };
    this.jobs.set(j.id, j);
    return { job: j.id, ignored_fields: ignored, ...this.jobDetail(j) };
  }

  /** Each status read moves the job along; on the last one the playbook "runs" against the hosts. */
  private advance(j: Job): void {
    if (j.status !== 'pending' && j.status !== 'running') return;
    j.reads++;
    if (j.reads < (this.opts.readsToFinish ?? 2)) {
      j.status = 'running';
      return;
    }
    // An empty limit means the whole inventory, exactly as ansible-playbook reads it.
    const patterns = j.limit === '' ? undefined : j.limit.split(/[,:]/).filter(Boolean);
    const matched = this.hosts.filter((h) => !patterns || patterns.includes(h.name));
    const action = String(j.extraVars['patchflow_action'] ?? 'deploy');
    const ref = String(j.extraVars['patchflow_vendor_ref'] ?? '');
    j.summaries = matched.map((host) => this.play(host, action, ref, j.jobType === 'check'));
    j.status = j.summaries.some((s) => s.failures > 0 || s.dark > 0) ? 'failed' : 'successful';
  }

  private play(host: Host, action: string, ref: string, check: boolean): HostSummary {
    const summary: HostSummary = { host, ok: 0, changed: 0, failures: 0, dark: 0, skipped: 0, message: '' };
    if (host.unreachable)
      return { ...summary, dark: 1, message: `Failed to connect to the host via winrm: ${host.name}:5986 timed out` };
    const has = host.installed.has(ref);
    if (action === 'verify')
      return has
        ? { ...summary, ok: 1, message: `${ref} installed` }
        : { ...summary, failures: 1, message: `${ref} is not installed` };
    if (action === 'deploy' && !has && host.failInstall && !check)
      return {
        ...summary,
        ok: 0,
        failures: 1,
        message: `Installing ${ref} failed: exit code 1603 (fatal error during installation)`,
      };
    const change = action === 'deploy' ? !has : action === 'rollback' ? has : false;
    if (change && !check) {
      if (action === 'deploy') host.installed.add(ref);
      else host.installed.delete(ref);
      this.hostChanges++;
    }
    return {
      ...summary,
      ok: 1,
      changed: change ? 1 : 0,
      message: change ? `${action} ${ref}` : `${ref} already in the wanted state`,
    };
  }

  private jobDetail(j: Job): Record<string, unknown> {
    const finished = j.status !== 'pending' && j.status !== 'running';
    return {
      ...job,
      id: j.id,
      url: `/api/v2/jobs/${j.id}/`,
      job_template: this.templateId,
      unified_job_template: this.templateId,
      limit: j.limit,
      extra_vars: JSON.stringify(j.extraVars),
      job_type: j.jobType,
      status: j.status,
      failed: j.status === 'failed' || j.status === 'error',
      finished: finished ? '2026-11-23T10:00:00.000000Z' : null,
      canceled_on: j.status === 'canceled' ? '2026-11-23T10:00:00.000000Z' : null,
      job_explanation: j.explanation,
      host_status_counts: finished
        ? {
            ok: j.summaries.filter((s) => !s.failures && !s.dark).length,
            failures: j.summaries.filter((s) => s.failures).length,
            dark: j.summaries.filter((s) => s.dark).length,
          }
        : {},
      related: {
        ...job.related,
        job_events: `/api/v2/jobs/${j.id}/job_events/`,
        job_host_summaries: `/api/v2/jobs/${j.id}/job_host_summaries/`,
        cancel: `/api/v2/jobs/${j.id}/cancel/`,
      },
    };
  }

  private summaryRows(j: Job): Record<string, unknown>[] {
    return j.summaries.map((s, i) => ({
      id: j.id * 1000 + i,
      type: 'job_host_summary',
      url: `/api/v2/job_host_summaries/${j.id * 1000 + i}/`,
      job: j.id,
      host: s.host.id,
      constructed_host: null,
      host_name: s.host.name,
      changed: s.changed,
      dark: s.dark,
      failures: s.failures,
      ok: s.ok,
      processed: 1,
      skipped: s.skipped,
      failed: s.failures > 0 || s.dark > 0,
      ignored: 0,
      rescued: 0,
    }));
  }

  /** Per-host runner events shaped like the captured runner_on_ok event, one per host. */
  private events(j: Job): { event: string; [k: string]: unknown }[] {
    const template = jobEvents.results.find((e) => e.event === 'runner_on_ok')!;
    return j.summaries.map((s, i) => {
      const event = s.dark ? 'runner_on_unreachable' : s.failures ? 'runner_on_failed' : 'runner_on_ok';
      return {
        ...template,
        id: j.id * 1000 + i,
        job: j.id,
        event,
        counter: i + 1,
        failed: event !== 'runner_on_ok',
        changed: s.changed > 0,
        host: s.host.id,
        host_name: s.host.name,
        task: 'Apply patch',
        event_data: {
          ...template.event_data,
          task: 'Apply patch',
          host: s.host.name,
          remote_addr: s.host.name,
          res: { changed: s.changed > 0, msg: s.message, ...(s.dark ? { unreachable: true } : {}) },
        },
      };
    });
  }

  private page(url: URL, rows: unknown[]): Record<string, unknown> {
    const size = Math.min(
      Number(url.searchParams.get('page_size') ?? this.opts.pageSize ?? 25),
      this.opts.pageSize ?? 200,
    );
    const page = Number(url.searchParams.get('page') ?? '1');
    const link = (p: number) => {
      const u = new URL(url);
      u.searchParams.set('page', String(p));
      return `${u.pathname}${u.search}`;
    };
    return {
      count: rows.length,
      next: page * size < rows.length ? link(page + 1) : null,
      previous: page > 1 ? link(page - 1) : null,
      results: rows.slice((page - 1) * size, page * size),
    };
  }
}
