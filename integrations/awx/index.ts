import type { DeployRequest, DeployTarget, HostResult } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { InputError } from '../../kernel/errors.ts';
import { distinctTargets, HostIndex, hostResult, isPlainHostname } from '../kit/support/hosts.ts';
import { pollUntilDone } from '../kit/support/poll.ts';
import { AwxClient, finishedStatuses, type AwxJob, type HostEvent, type HostSummary } from './client.ts';
import { awxConfigSchema, type AwxConfig } from './config.ts';

type Action = 'deploy' | 'verify' | 'rollback';

function eventMessage(e: HostEvent | undefined): string {
  const msg = e?.event_data.res?.msg;
  const text = typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg);
  return e ? `${e.task ? `${e.task}: ` : ''}${text || e.event}` : '';
}

/** What one host's summary line means for the action that ran. */
function interpret(
  target: DeployTarget,
  s: HostSummary,
  action: Action,
  check: boolean,
  failure: HostEvent | undefined,
  evidence: Record<string, unknown>,
): HostResult {
  if (s.dark > 0)
    return hostResult(target, 'unreachable', eventMessage(failure) || 'AWX could not reach the host', evidence);
  if (s.failures > 0) {
    const message = eventMessage(failure) || 'a task failed';
    return hostResult(
      target,
      'failed',
      action === 'verify' ? `not at the target state: ${message}` : message,
      evidence,
    );
  }
  if (action === 'verify') return hostResult(target, 'already_compliant', 'the verify run passed', evidence);
  if (s.changed > 0)
    return check
      ? hostResult(target, 'skipped', `would ${action} (check mode reported changes)`, evidence)
      : hostResult(target, 'patched', `${action} changed the host`, evidence);
  if (s.ok > 0) return hostResult(target, 'already_compliant', 'nothing to change', evidence);
  return hostResult(target, 'skipped', 'every task was skipped on this host', evidence);
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
                `AWX job ${jobId} did not finish within ${config.jobTimeout} and was cancelled`,
                evidence,
              ),
            );
        } else {
          const summaries = new HostIndex(await client.hostSummaries(jobId, req.signal), (s) => [s.host_name]);
          const failures = waited.value.status === 'failed' ? await client.failureEvents(jobId, req.signal) : [];
          const jobProblem =
            waited.value.status === 'error' || waited.value.status === 'canceled'
              ? `AWX job ${jobId} ended ${waited.value.status}: ${waited.value.job_explanation || waited.value.result_traceback.split('\n').at(-2) || 'no explanation'}`
              : undefined;
          for (const t of safe) {
            const s = summaries.find(t.hostname);
            if (!s)
              results.set(
                t,
                hostResult(
                  t,
                  jobProblem ? 'failed' : 'unreachable',
                  jobProblem ??
                    `AWX job ${jobId} has no result for this host: it is not in the job template's inventory under this name`,
                  evidence,
                ),
              );
            else
              results.set(
                t,
                interpret(
                  t,
                  s,
                  action,
                  check,
                  failures.find((e) => e.host_name === s.host_name),
                  evidence,
                ),
              );
          }
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
