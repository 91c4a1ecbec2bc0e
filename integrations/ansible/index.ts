import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeployRequest, HostResult } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { runPlaybook } from './client.ts';
import { ansibleConfigSchema, type AnsibleConfig } from './config.ts';
import { listAnsibleInventory } from './inventory.ts';
import { rebootPendingHosts, rebootPolicy, withRebootPending } from './reboot.ts';
import { hostResultsFromPlaybook } from './results.ts';
import { hostKey } from '../kit/support/hosts.ts';

/** The demo playbook ships with Patchflow; real installations point `playbook` at their own. */
export const demoPlaybook = fileURLToPath(new URL('../../demo/playbooks/patch.yml', import.meta.url));

type Action = 'deploy' | 'verify' | 'backup' | 'rollback';

/** What ssh prints when it refuses a host's key: unknown (with StrictHostKeyChecking) or changed. */
const hostKeyRefusal = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known/;

export const ansibleConnector = defineConnector({
  id: 'ansible',
  title: 'Ansible (ansible-playbook)',
  configSchema: ansibleConfigSchema,
  capabilities: { deployer: true, backup: true, inventory: true },
  create(config: AnsibleConfig, deps) {
    const inventory = config.inventory ?? path.join(deps.workDir, 'demo', 'inventory.ini');
    const playbook = config.playbook ?? demoPlaybook;
    const knownHosts = config.knownHostsFile ?? '~/.ssh/known_hosts';
    /** An unreachable host whose SSH key was refused says which file must vouch for it, and how. */
    const explainHostKey = (r: HostResult): HostResult =>
      r.outcome === 'unreachable' && hostKeyRefusal.test(r.message)
        ? {
            ...r,
            message: `${r.message.replace(/\s+/g, ' ')} ${knownHosts} has no key or another key for this host, and hostKeyChecking is on: confirm the host's key fingerprint with its owner, then add the key to ${knownHosts} (ssh-keyscan prints it)`,
          }
        : r;
    const run = async (
      action: Action,
      req: Pick<DeployRequest, 'cycleId' | 'patch' | 'targets' | 'reboot' | 'onProgress' | 'signal'>,
    ): Promise<HostResult[]> => {
      if (req.targets.length === 0) return [];
      const hosts = [...new Set(req.targets.map((t) => t.hostname))];
      const doc = await runPlaybook(config, {
        inventory,
        playbook,
        hosts,
        workDir: path.join(deps.workDir, 'ansible'),
        extraVars: {
          patchflow_action: action,
          patchflow_cycle_id: req.cycleId,
          patchflow_patch_id: req.patch.patchId,
          patchflow_vendor_ref: req.patch.vendorRef,
          patchflow_target_version: req.patch.targetVersion ?? '',
          // The playbook decides what a reboot means on its hosts; Patchflow passes the cycle's policy.
          patchflow_reboot: rebootPolicy(req),
        },
        onProgress: req.onProgress,
        signal: req.signal,
      });
      const pending = rebootPendingHosts(doc.global_custom_stats);
      return hostResultsFromPlaybook(doc, hosts).map((r) =>
        pending.has(hostKey(r.hostname)) ? withRebootPending(r, rebootPolicy(req)) : explainHostKey(r),
      );
    };
    return {
      deployer: {
        async deploy(req) {
          if (!req.dryRun) return run('deploy', req);
          // Check mode for shell-based patches changes nothing and reports nothing useful; a verify run says exactly what would change.
          const verified = await run('verify', req);
          return verified.map((r) =>
            r.outcome === 'failed' ? { ...r, outcome: 'skipped', message: `would patch: ${r.message}` } : r,
          );
        },
        async verify(req) {
          const verified = await run('verify', req);
          return verified.map((r) => (r.outcome === 'patched' ? { ...r, outcome: 'already_compliant' } : r));
        },
        rollback: (req) => run('rollback', req),
      },
      backup: {
        async backup(req) {
          const results = await run('backup', req);
          return results.map((r) => ({
            hostname: r.hostname,
            ok: r.outcome === 'patched' || r.outcome === 'already_compliant',
            reference: `${r.hostname}:backups/${req.cycleId}`,
            message: r.message,
          }));
        },
      },
      inventory: {
        listAssets: () => listAnsibleInventory({ inventoryPath: inventory }),
      },
      async testConnection() {
        const r = spawnSync(config.ansiblePlaybookBin, ['--version'], { encoding: 'utf8' });
        if (r.status !== 0)
          return { ok: false, message: `${config.ansiblePlaybookBin} not runnable: ${r.error?.message ?? r.stderr}` };
        if (config.knownHostsFile) {
          try {
            accessSync(config.knownHostsFile, constants.R_OK);
          } catch (err) {
            return {
              ok: false,
              message: `knownHostsFile ${config.knownHostsFile} cannot be read (${(err as NodeJS.ErrnoException).code}): every SSH host would be refused`,
            };
          }
        }
        const keys = config.hostKeyChecking
          ? `SSH host keys checked against ${knownHosts}`
          : 'SSH host keys NOT checked';
        return {
          ok: true,
          message: `${r.stdout.split('\n')[0]}; inventory ${inventory}; playbook ${playbook}; ${keys}`,
        };
      },
    };
  },
});
