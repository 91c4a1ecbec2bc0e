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
 *   GET /api/v2/jobs/{id}/job_events/?event__in=…&order_by=counter — paginated {count, next, previous, results}.
 *   https://docs.oracle.com/en/operating-systems/oracle-linux-automation-manager/2/olam-api-cli2.1/op-api-v2-job_host_summaries-id-get.html
 *   https://docs.ansible.com/projects/awx/en/24.6.1/userguide/jobs.html
 * - Host summaries and events are what ansible-runner's awx_display callback reports: a failure a
 *   `rescue:` block handled counts as `rescued`, not in `failures` (Ansible's strategy counts it so,
 *   ansible-core lib/ansible/plugins/strategy/__init__.py); `runner_on_failed` events carry
 *   `ignore_errors`; `set_stats` data (per_host: false) becomes the job's `artifacts`.
 *   https://github.com/ansible/ansible-runner/blob/devel/src/ansible_runner/display_callback/callback/awx_display.py
 *   https://docs.redhat.com/en/documentation/red_hat_ansible_automation_platform/2.4/html/automation_controller_user_guide/controller-workflow-extra-variables (set_stats → artifacts)
 * - A job can end `canceled` (POST cancel, or a person in the UI) or `error` (the execution node
 *   was lost) after some hosts already changed; its summaries are then partial.
 * - OAuth2 / personal access tokens: `Authorization: Bearer <token>`, 401 otherwise.
 * The job template's playbook is modelled on Patchflow's (demo/playbooks/patch.yml): `patchflow_action`
 * deploy | verify | rollback over `patchflow_vendor_ref`, idempotent, check mode (job_type=check)
 * changes nothing; the install runs in a block whose rescue reports the failure; `patchflow_reboot`
 * (never | if-required | always) decides the reboot, and a reboot left pending is named through
 * `set_stats` as `patchflow_reboot_pending: [host]`.
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
  /** The install fails once and the playbook's rescue block installs it another way. */
  rescueInstall: boolean;
  requiresReboot: boolean;
  unreachable: boolean;
  reboots: number;
}

/** One runner event of a host, in the order the playbook ran its tasks. */
interface HostEvent {
  event: 'runner_on_ok' | 'runner_on_failed' | 'runner_on_unreachable';
  task: string;
  changed: boolean;
  msg: string;
}

interface HostSummary {
  host: Host;
  ok: number;
  changed: number;
  failures: number;
  dark: number;
  skipped: number;
  rescued: number;
  events: HostEvent[];
  rebootPending: boolean;
}

type Interruption = { status: 'canceled' | 'error'; explanation: string; traceback: string };

interface Job {
  id: number;
  limit: string;
  extraVars: Record<string, unknown>;
  jobType: 'run' | 'check';
  status: 'pending' | 'running' | 'successful' | 'failed' | 'error' | 'canceled';
  reads: number;
  summaries: HostSummary[];
  explanation: string;
  traceback: string;
  interruption: Interruption | undefined;
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
  private nextInterruption: Interruption | undefined;

  constructor(private readonly opts: AwxEmulatorOptions) {
    super('');
  }

  addHost(
    name: string,
    opts: {
      installed?: string[];
      failInstall?: boolean;
      rescueInstall?: boolean;
      requiresReboot?: boolean;
      unreachable?: boolean;
    } = {},
  ): void {
    this.hosts.push({
      id: this.hosts.length + 1,
      name,
      installed: new Set(opts.installed ?? []),
      failInstall: opts.failInstall ?? false,
      rescueInstall: opts.rescueInstall ?? false,
      requiresReboot: opts.requiresReboot ?? false,
      unreachable: opts.unreachable ?? false,
      reboots: 0,
    });
  }

  isInstalled(name: string, vendorRef: string): boolean {
    return this.hosts.find((h) => h.name === name)?.installed.has(vendorRef) ?? false;
  }

  rebootsOf(name: string): number {
    return this.hosts.find((h) => h.name === name)?.reboots ?? 0;
  }

  /**
   * The next job runs its playbook on the hosts, then ends `canceled` (someone cancelled it in the
   * UI as the last tasks ran) or `error` (AWX lost the execution node): its summaries show changes.
   */
  interruptNextJob(status: Interruption['status']): void {
    this.nextInterruption =
      status === 'canceled'
        ? { status, explanation: '', traceback: '' }
        : {
            status,
            explanation: 'Job terminated due to error',
            traceback:
              'Traceback (most recent call last):\n  File "/var/lib/awx/venv/awx/lib64/python3.11/site-packages/awx/main/tasks/receptor.py", line 455, in _run_internal\n    raise RuntimeError(detail)\nRuntimeError: Receptor detail: connection to awx-ee-node-2 lost\n',
          };
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
      this.cancels.push(found.id);
      res.writeHead(202).end();
      return;
    }
    if (m[2] === 'job_host_summaries' && req.method === 'GET')
      return void send(200, this.page(url, this.summaryRows(found)));
    if (m[2] === 'job_events' && req.method === 'GET') {
      const wanted = url.searchParams.get('event__in')?.split(',');
      const order = url.searchParams.get('order_by') ?? 'counter';
      if (order !== 'counter' && order !== '-counter')
        return void send(400, { detail: `Order by field ${order} is not supported by this emulator` });
      const events = this.events(found).filter((e) => !wanted || wanted.includes(e.event));
      return void send(200, this.page(url, order === '-counter' ? events.reverse() : events));
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
      traceback: '',
      interruption: this.nextInterruption,
    };
    this.nextInterruption = undefined;
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
    // The shipped playbook's default when the launch does not say.
    const reboot = String(j.extraVars['patchflow_reboot'] ?? 'if-required');
    j.summaries = matched.map((host) => this.play(host, action, ref, reboot, j.jobType === 'check'));
    if (j.interruption) {
      j.status = j.interruption.status;
      j.explanation = j.interruption.explanation;
      j.traceback = j.interruption.traceback;
      return;
    }
    j.status = j.summaries.some((s) => s.failures > 0 || s.dark > 0) ? 'failed' : 'successful';
  }

  private play(host: Host, action: string, ref: string, reboot: string, check: boolean): HostSummary {
    const summary: HostSummary = {
      host,
      ok: 0,
      changed: 0,
      failures: 0,
      dark: 0,
      skipped: 0,
      rescued: 0,
      events: [],
      rebootPending: false,
    };
    const ran = (event: HostEvent['event'], task: string, msg: string, changed = false) => {
      summary.events.push({ event, task, msg, changed });
      if (event === 'runner_on_unreachable') summary.dark++;
      else if (event === 'runner_on_failed') summary.failures++;
      else summary.ok++;
      if (changed) summary.changed++;
    };
    // A failure inside the block: the rescue section runs, and Ansible counts it as rescued.
    const rescued = (task: string, msg: string) => {
      summary.events.push({ event: 'runner_on_failed', task, msg, changed: false });
      summary.rescued++;
    };
    if (host.unreachable) {
      ran(
        'runner_on_unreachable',
        'Apply patch',
        `Failed to connect to the host via winrm: ${host.name}:5986 timed out`,
      );
      return summary;
    }
    const has = host.installed.has(ref);
    if (action === 'verify') {
      if (has) ran('runner_on_ok', 'Verify patch', `${ref} installed`);
      else ran('runner_on_failed', 'Verify patch', `${ref} is not installed`);
      return summary;
    }
    if (action === 'deploy' && !has && host.failInstall && !check) {
      rescued('Apply patch', `Installing ${ref} failed: exit code 1603 (fatal error during installation)`);
      ran(
        'runner_on_failed',
        'Report the failure',
        `${ref} was not installed (exit code 1603); the host was left as it was`,
      );
      return summary;
    }
    const change = action === 'deploy' ? !has : action === 'rollback' ? has : false;
    if (change && !check && action === 'deploy' && host.rescueInstall) {
      rescued(
        'Apply patch',
        `Downloading ${ref} from the primary repository failed: HTTP Error 503: Service Unavailable`,
      );
      ran('runner_on_ok', 'Apply patch from the fallback repository', `deploy ${ref}`, true);
    } else
      ran('runner_on_ok', 'Apply patch', change ? `${action} ${ref}` : `${ref} already in the wanted state`, change);
    if (change && !check) {
      if (action === 'deploy') host.installed.add(ref);
      else host.installed.delete(ref);
      this.hostChanges++;
      if (action === 'deploy' && (reboot === 'always' || (reboot === 'if-required' && host.requiresReboot))) {
        host.reboots++;
        ran('runner_on_ok', 'Reboot', 'rebooted', true);
      } else if (action === 'deploy' && host.requiresReboot) summary.rebootPending = true;
    }
    return summary;
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
      result_traceback: j.traceback,
      artifacts: finished ? this.artifacts(j) : {},
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

  /** What the playbook's `set_stats` (per_host: false, aggregate) gathered over its hosts. */
  private artifacts(j: Job): Record<string, unknown> {
    const pending = j.summaries.filter((s) => s.rebootPending).map((s) => s.host.name);
    return pending.length ? { patchflow_reboot_pending: pending } : {};
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
      rescued: s.rescued,
    }));
  }

  /** The hosts' runner events shaped like the captured runner_on_ok event, numbered in the order they ran. */
  private events(j: Job): { event: string; [k: string]: unknown }[] {
    const template = jobEvents.results.find((e) => e.event === 'runner_on_ok')!;
    return j.summaries
      .flatMap((s) => s.events.map((e) => ({ s, e })))
      .map(({ s, e }, i) => ({
        ...template,
        id: j.id * 1000 + i,
        job: j.id,
        event: e.event,
        counter: i + 1,
        failed: e.event !== 'runner_on_ok',
        changed: e.changed,
        host: s.host.id,
        host_name: s.host.name,
        task: e.task,
        event_data: {
          ...template.event_data,
          task: e.task,
          host: s.host.name,
          remote_addr: s.host.name,
          ...(e.event === 'runner_on_failed' ? { ignore_errors: false } : {}),
          res: {
            changed: e.changed,
            msg: e.msg,
            ...(e.event === 'runner_on_unreachable' ? { unreachable: true } : {}),
            ...(e.event === 'runner_on_failed' ? { failed: true } : {}),
          },
        },
      }));
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
