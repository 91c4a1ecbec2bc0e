import type { DeployRequest, DeployTarget, HostResult } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { InputError } from '../../kernel/errors.ts';
import { rebootPendingHosts, rebootPolicy, withRebootPending } from '../ansible/reboot.ts';
import { distinctTargets, HostIndex, hostKey, hostResult, isPlainHostname } from '../kit/support/hosts.ts';
import { pollUntilDone } from '../kit/support/poll.ts';
import {
  AwxClient,
  completedStatuses,
  finishedStatuses,
  type AwxJob,
  type HostEvent,
  type HostSummary,
} from './client.ts';
import { awxConfigSchema, type AwxConfig } from './config.ts';

type Action = 'deploy' | 'verify' | 'rollback';

function eventMessage(e: HostEvent | undefined): string {
  const msg = e?.event_data.res?.msg;
  const text = typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg);
  return e ? `${e.task ? `${e.task}: ` : ''}${text || e.event}` : '';
}

/** Why a job stopped short, in AWX's words: its explanation and the last line of its traceback. */
function jobEnded(job: AwxJob): string {
  const why = [job.job_explanation, job.result_traceback.trim().split('\n').at(-1)].filter(Boolean).join(': ');
  return `AWX job ${job.id} ended ${job.status} (${why || 'AWX gave no explanation'})`;
}

/**
 * What one host's summary line means for the action that ran, in a job whose playbook ran to its
 * end. `events` are the host's failed and unreachable events in the order they ran.
 */
function interpret(
  target: DeployTarget,
  s: HostSummary,
  action: Action,
  check: boolean,
  events: HostEvent[],
  evidence: Record<string, unknown>,
): HostResult {
  if (s.dark > 0) {
    const unreachable = events.findLast((e) => e.event === 'runner_on_unreachable');
    return hostResult(target, 'unreachable', eventMessage(unreachable) || 'AWX could not reach the host', evidence);
  }
  const failed = events.filter((e) => e.event === 'runner_on_failed' && !e.event_data.ignore_errors);
  if (s.failures > 0) {
    // The failure that counted is the last one: earlier ones may have been handled by a rescue block.
    const message = eventMessage(failed.at(-1)) || 'a task failed';
    return hostResult(
      target,
      'failed',
      action === 'verify' ? `not at the target state: ${message}` : message,
      evidence,
    );
  }
  const result = succeeded(target, s, action, check, evidence);
  // The recap, not the failed task, says how the host ended: a rescue block handled that failure.
  if (s.rescued === 0) return result;
  return {
    ...result,
    message: `${result.message}; a rescue block handled a failed task (${eventMessage(failed[0]) || 'no failure event'})`,
    evidence: { ...result.evidence, rescued: s.rescued },
  };
}

function succeeded(
  target: DeployTarget,
  s: HostSummary,
  action: Action,
  check: boolean,
  evidence: Record<string, unknown>,
): HostResult {
  if (action === 'verify') return hostResult(target, 'already_compliant', 'the verify run passed', evidence);
  if (s.changed > 0)
    return check
      ? hostResult(target, 'skipped', `would ${action} (check mode reported changes)`, evidence)
      : hostResult(target, 'patched', `${action} changed the host`, evidence);
  if (s.ok > 0) return hostResult(target, 'already_compliant', 'nothing to change', evidence);
  return hostResult(target, 'skipped', 'every task was skipped on this host', evidence);
}

/**
 * A host of a job that stopped before its playbook's end: its summary is a snapshot of an
 * interrupted run, so the host is failed whatever the summary says, and the summary is evidence.
 */
function interrupted(
  target: DeployTarget,
  job: AwxJob,
  s: HostSummary | undefined,
  evidence: Record<string, unknown>,
): HostResult {
  const changed =
    s && s.changed > 0 ? '; its partial summary reported changes on this host, so check it before deploying again' : '';
  return hostResult(target, 'failed', `${jobEnded(job)}: the state of this host is unknown${changed}`, {
    ...evidence,
    jobStatus: job.status,
    ...(s
      ? {
          hostSummary: {
            ok: s.ok,
            changed: s.changed,
            failures: s.failures,
            dark: s.dark,
            skipped: s.skipped,
            rescued: s.rescued,
          },
        }
      : {}),
  });
}

export const awxConnector = defineConnector({
  id: 'awx',
  title: 'AWX / Ansible Automation Platform',
  configSchema: awxConfigSchema,
  capabilities: { deployer: true },
  create(config: AwxConfig, deps) {
    const client = new AwxClient({
      url: config.url,
      apiPath: config.apiPath,
      token: config.token,
      timeoutMs: durationMs(config.requestTimeout),
    });

    /** The template must take our limit and variables; otherwise AWX ignores them and runs its whole inventory. */
    async function checkPrompts(check: boolean, signal?: AbortSignal): Promise<void> {
      const prompts = await client.launchPrompts(config.jobTemplateId, signal);
      const missing = [
        !prompts.ask_limit_on_launch && 'Limit',
        !prompts.ask_variables_on_launch && 'Variables',
        check && !prompts.ask_job_type_on_launch && 'Job type (needed for dry runs)',
      ].filter((m): m is string => !!m);
      if (missing.length) {
        throw new InputError(
          `AWX job template ${config.jobTemplateId} must have "Prompt on launch" enabled for: ${missing.join(', ')}; without it AWX would ignore Patchflow's host list`,
          [
            {
              path: ['connectors', 'awx', 'jobTemplateId'],
              message: `prompt on launch missing for ${missing.join(', ')}`,
            },
          ],
        );
      }
    }

    async function waitForJob(id: number, req: DeployRequest): Promise<{ done: boolean; value: AwxJob }> {
      try {
        return await pollUntilDone({
          check: async () => {
            const job = await client.job(id, req.signal);
            return { done: (finishedStatuses as readonly string[]).includes(job.status), value: job };
          },
          backoff: {
            initialMs: durationMs(config.pollInterval),
            maxMs: durationMs(config.maxPollInterval),
            factor: 1.5,
          },
          deadlineMs: durationMs(config.jobTimeout),
          signal: req.signal,
          onWait: (job) => req.onProgress?.(`AWX job ${id} ${job.status}`),
        });
      } catch (err) {
        // Cancelled by the caller (the activity was cancelled): stop the playbook too, not just our waiting.
        if (req.signal?.aborted)
          await client
            .cancel(id)
            .catch((e: unknown) =>
              deps.logger.warn('could not cancel AWX job', { job: id, err: (e as Error).message }),
            );
        throw err;
      }
    }

    /** One result per target from a finished job: its summaries, failure events and artifacts. */
    async function resultsOfJob(
      job: AwxJob,
      targets: DeployTarget[],
      action: Action,
      check: boolean,
      req: DeployRequest,
      evidence: Record<string, unknown>,
    ): Promise<HostResult[]> {
      const rows = await client.hostSummaries(job.id, req.signal);
      const summaries = new HostIndex(rows, (s) => [s.host_name]);
      if (!completedStatuses.includes(job.status))
        return targets.map((t) => interrupted(t, job, summaries.find(t.hostname), evidence));
      const events =
        job.status === 'failed' || rows.some((s) => s.rescued > 0)
          ? await client.failureEvents(job.id, req.signal)
          : [];
      const pending = rebootPendingHosts(job.artifacts);
      return targets.map((t) => {
        const s = summaries.find(t.hostname);
        if (!s)
          return hostResult(
            t,
            'unreachable',
            `AWX job ${job.id} has no result for this host: it is not in the job template's inventory under this name`,
            evidence,
          );
        const hostEvents = events.filter((e) => e.host_name === s.host_name);
        const result = interpret(t, s, action, check, hostEvents, evidence);
        return pending.has(hostKey(s.host_name)) ? withRebootPending(result, rebootPolicy(req)) : result;
      });
    }

    async function run(action: Action, req: DeployRequest, check = false): Promise<HostResult[]> {
      const targets = distinctTargets(req.targets);
      if (targets.length === 0) return [];
      // A limit is an Ansible host pattern: `,` `:` `!` `&` `*` `~` would widen or change it.
      const unsafe = targets.filter((t) => !isPlainHostname(t.hostname));
      const safe = targets.filter((t) => isPlainHostname(t.hostname));
      const results = new Map<DeployTarget, HostResult>(
        unsafe.map((t) => [
          t,
          hostResult(
            t,
            'failed',
            'the hostname contains characters that would change the meaning of an Ansible limit; it was not sent to AWX',
          ),
        ]),
      );
      if (safe.length) {
        await checkPrompts(check, req.signal);
        const launched = await client.launch(
          config.jobTemplateId,
          {
            limit: safe.map((t) => t.hostname).join(','),
            extra_vars: {
              ...config.extraVars,
              patchflow_action: action,
              patchflow_cycle_id: req.cycleId,
              patchflow_ring: req.ring,
              patchflow_patch_id: req.patch.patchId,
              patchflow_vendor_ref: req.patch.vendorRef,
              patchflow_target_version: req.patch.targetVersion ?? '',
              // The playbook decides what a reboot means on its hosts; Patchflow passes the cycle's policy.
              patchflow_reboot: rebootPolicy(req),
            },
            ...(check ? { job_type: 'check' as const } : {}),
          },
          req.signal,
        );
        const jobId = launched.job;
        if ('limit' in launched.ignored_fields || 'extra_vars' in launched.ignored_fields) {
          await client.cancel(jobId);
          throw new InputError(
            `AWX ignored ${Object.keys(launched.ignored_fields).join(', ')} for job template ${config.jobTemplateId}; job ${jobId} was cancelled`,
          );
        }
        req.onProgress?.(`AWX job ${jobId} launched for ${safe.length} host(s)`);
        const waited = await waitForJob(jobId, req);
        const evidence = { awxJobId: jobId, jobUrl: new URL(`${config.apiPath}jobs/${jobId}/`, config.url).toString() };
        if (!waited.done) {
          await client.cancel(jobId);
          for (const t of safe)
            results.set(
              t,
              hostResult(
                t,
                'failed',
                `AWX job ${jobId} did not finish within ${config.jobTimeout} and was cancelled; the state of this host is unknown`,
                evidence,
              ),
            );
        } else {
          const read = await resultsOfJob(waited.value, safe, action, check, req, evidence);
          safe.forEach((t, i) => results.set(t, read[i]!));
        }
      }
      return targets.map((t) => results.get(t)!);
    }

    return {
      deployer: {
        deploy: (req) => run('deploy', req, req.dryRun === true),
        verify: (req) => run('verify', req),
        rollback: (req) => run('rollback', req, req.dryRun === true),
      },
      async testConnection() {
        try {
          const me = await client.me();
          await checkPrompts(false);
          return {
            ok: true,
            message: `AWX at ${config.url} as ${me.results[0]?.username ?? 'unknown user'}; job template ${config.jobTemplateId} prompts for limit and variables`,
          };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
    };
  },
});
