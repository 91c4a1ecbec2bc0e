import { z } from 'zod';
import { requestJson, sendHttp, errorForStatus, type HttpRequest } from '../kit/support/http.ts';

const page = <S extends z.ZodType>(row: S) =>
  z.object({ count: z.number(), next: z.string().nullable(), results: z.array(row) });

export const launchPromptsSchema = z.object({
  ask_limit_on_launch: z.boolean(),
  ask_variables_on_launch: z.boolean(),
  ask_job_type_on_launch: z.boolean(),
  can_start_without_user_input: z.boolean(),
  variables_needed_to_start: z.array(z.string()).default([]),
});

const launchedSchema = z.object({ job: z.number(), ignored_fields: z.record(z.string(), z.unknown()).default({}) });

export const finishedStatuses = ['successful', 'failed', 'error', 'canceled'] as const;
/**
 * The statuses of a job whose playbook ran to its end, so that its host summaries are the whole
 * story: `canceled` and `error` jobs stopped somewhere in the middle.
 */
export const completedStatuses: readonly AwxJob['status'][] = ['successful', 'failed'];
export const jobSchema = z.object({
  id: z.number(),
  status: z.enum(['new', 'pending', 'waiting', 'running', ...finishedStatuses]),
  job_explanation: z.string().default(''),
  result_traceback: z.string().default(''),
  /** What the playbook's `set_stats` gathered (per_host: false). */
  artifacts: z.record(z.string(), z.unknown()).default({}),
});
export type AwxJob = z.infer<typeof jobSchema>;

export const hostSummarySchema = z.object({
  host_name: z.string(),
  ok: z.number(),
  changed: z.number(),
  failures: z.number(),
  dark: z.number(),
  skipped: z.number(),
  /** Failures a `rescue:` block handled; Ansible does not count them in `failures` (AWX 9 and later). */
  rescued: z.number().default(0),
});
export type HostSummary = z.infer<typeof hostSummarySchema>;

const eventSchema = z.object({
  event: z.string(),
  host_name: z.string().default(''),
  task: z.string().default(''),
  event_data: z
    .object({
      res: z.object({ msg: z.unknown().optional() }).passthrough().optional(),
      ignore_errors: z.boolean().nullish(),
    })
    .passthrough(),
});
export type HostEvent = z.infer<typeof eventSchema>;

/** The AWX REST API v2 calls the connector makes; every answer is validated. */
export class AwxClient {
  constructor(private readonly opts: { url: string; apiPath: string; token: string; timeoutMs: number }) {}

  me(signal?: AbortSignal) {
    return this.get(`${this.opts.apiPath}me/`, page(z.object({ username: z.string() })), signal);
  }

  launchPrompts(templateId: number, signal?: AbortSignal) {
    return this.get(`${this.opts.apiPath}job_templates/${templateId}/launch/`, launchPromptsSchema, signal);
  }

  launch(
    templateId: number,
    body: { limit: string; extra_vars: Record<string, unknown>; job_type?: 'run' | 'check' },
    signal?: AbortSignal,
  ) {
    return requestJson(
      `AWX launch of job template ${templateId}`,
      this.request('POST', `${this.opts.apiPath}job_templates/${templateId}/launch/`, signal, JSON.stringify(body)),
      launchedSchema,
    );
  }

  job(id: number, signal?: AbortSignal) {
    return this.get(`${this.opts.apiPath}jobs/${id}/`, jobSchema, signal);
  }

  /** Asks AWX to cancel a job; a job that already finished (405) needs nothing. */
  async cancel(id: number): Promise<void> {
    const res = await sendHttp(
      `AWX cancel of job ${id}`,
      this.request('POST', `${this.opts.apiPath}jobs/${id}/cancel/`),
    );
    if (res.status !== 202 && res.status !== 405) throw errorForStatus(`AWX cancel of job ${id}`, res.status, res.text);
  }

  hostSummaries(id: number, signal?: AbortSignal): Promise<HostSummary[]> {
    return this.all(`${this.opts.apiPath}jobs/${id}/job_host_summaries/?page_size=200`, hostSummarySchema, signal);
  }

  /** The failed and unreachable runner events, which carry the message a person needs, in the order they ran. */
  failureEvents(id: number, signal?: AbortSignal): Promise<HostEvent[]> {
    return this.all(
      `${this.opts.apiPath}jobs/${id}/job_events/?event__in=runner_on_failed,runner_on_unreachable&order_by=counter&page_size=200`,
      eventSchema,
      signal,
    );
  }

  private async all<S extends z.ZodType>(first: string, row: S, signal?: AbortSignal): Promise<z.output<S>[]> {
    const out: z.output<S>[] = [];
    let next: string | null = first;
    while (next) {
      const p: { next: string | null; results: z.output<S>[] } = await this.get(next, page(row), signal);
      out.push(...p.results);
      next = p.next;
    }
    return out;
  }

  private get<S extends z.ZodType>(path: string, schema: S, signal?: AbortSignal): Promise<z.output<S>> {
    return requestJson(`AWX GET ${path.split('?')[0]}`, this.request('GET', path, signal), schema);
  }

  private request(method: HttpRequest['method'], path: string, signal?: AbortSignal, body?: string): HttpRequest {
    return {
      method,
      url: new URL(path, this.opts.url).toString(),
      headers: {
        authorization: `Bearer ${this.opts.token}`,
        accept: 'application/json',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body,
      timeoutMs: this.opts.timeoutMs,
      signal,
    };
  }
}
