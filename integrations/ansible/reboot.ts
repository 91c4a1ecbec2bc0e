import type { DeployRequest, HostResult } from '../contract/index.ts';
import { hostKey } from '../kit/support/hosts.ts';

/**
 * How a Patchflow playbook (run by ansible-playbook or by AWX) names the hosts it installed on but
 * did not restart: `ansible.builtin.set_stats` with `per_host: false`, which Ansible aggregates over
 * the hosts of the run, e.g. `data: { patchflow_reboot_pending: ["{{ inventory_hostname }}"] }`.
 * ansible-playbook's JSON callback prints it as `global_custom_stats`; AWX keeps it as the job's
 * `artifacts`. See demo/playbooks/patch.yml.
 */
export const rebootPendingStat = 'patchflow_reboot_pending';

/** The hosts a run's custom stats name as waiting for a reboot; entries that are not hostnames are ignored. */
export function rebootPendingHosts(customStats: Record<string, unknown>): Set<string> {
  const named = customStats[rebootPendingStat];
  return new Set(
    Array.isArray(named) ? named.filter((h): h is string => typeof h === 'string').map((h) => hostKey(h)) : [],
  );
}

/** The reboot policy a playbook is given when the cycle names none: the same default as the cycle policy's. */
export function rebootPolicy(req: Pick<DeployRequest, 'reboot'>): NonNullable<DeployRequest['reboot']> {
  return req.reboot ?? 'if-required';
}

/**
 * A host the patch was installed on that still has to restart for it to take effect. The outcome
 * stays what the run says (installed is installed); the evidence and the message carry the reboot.
 */
export function withRebootPending(result: HostResult, policy: NonNullable<DeployRequest['reboot']>): HostResult {
  if (result.outcome !== 'patched' && result.outcome !== 'already_compliant') return result;
  return {
    ...result,
    message: `${result.message}; reboot pending: the patch takes effect when the host restarts (reboot policy ${policy})`,
    evidence: { ...result.evidence, rebootPending: true },
  };
}
