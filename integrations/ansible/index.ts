import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeployRequest, HostResult } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { runPlaybook } from './client.ts';
import { ansibleConfigSchema, type AnsibleConfig } from './config.ts';
import { listAnsibleInventory } from './inventory.ts';
import { hostResultsFromPlaybook } from './results.ts';

/** The demo playbook ships with Patchflow; real installations point `playbook` at their own. */
export const demoPlaybook = fileURLToPath(new URL('../../demo/playbooks/patch.yml', import.meta.url));

type Action = 'deploy' | 'verify' | 'backup' | 'rollback';

export const ansibleConnector = defineConnector({
  id: 'ansible',
  title: 'Ansible (ansible-playbook)',
  configSchema: ansibleConfigSchema,
  capabilities: { deployer: true, backup: true, inventory: true },
  create(config: AnsibleConfig, deps) {
    const inventory = config.inventory ?? path.join(deps.workDir, 'demo', 'inventory.ini');
    const playbook = config.playbook ?? demoPlaybook;
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
          patchflow_reboot: req.reboot ?? 'if-required',
        },
        onProgress: req.onProgress,
        signal: req.signal,
      });
      return hostResultsFromPlaybook(doc, hosts);
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
        return { ok: true, message: `${r.stdout.split('\n')[0]}; inventory ${inventory}; playbook ${playbook}` };
      },
    };
  },
});
