import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UpstreamError } from '../../kernel/errors.ts';
import type { AnsibleConfig } from './config.ts';
import { parsePlaybookJson, type PlaybookJson } from './results.ts';

const callbackDir = fileURLToPath(new URL('./callback_plugins', import.meta.url));

export interface PlaybookRun {
  inventory: string;
  playbook: string;
  hosts: string[];
  extraVars: Record<string, unknown>;
  workDir: string;
  onProgress?: ((note: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Runs ansible-playbook limited to `hosts` and returns its JSON result. Exit codes 0 (ok),
 * 2 (some host failed) and 4 (some host unreachable) still carry a full per-host result; any
 * other code is an error of the run itself (bad playbook, bad inventory) and is raised.
 */
export async function runPlaybook(config: AnsibleConfig, run: PlaybookRun): Promise<PlaybookJson> {
  mkdirSync(run.workDir, { recursive: true });
  const varsFile = path.join(
    run.workDir,
    `vars-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`,
  );
  writeFileSync(varsFile, JSON.stringify({ ...config.extraVars, ...run.extraVars }));
  const args = [
    '-i',
    run.inventory,
    run.playbook,
    '--limit',
    run.hosts.join(','),
    '-e',
    `@${varsFile}`,
    '--forks',
    String(config.forks),
  ];
  const env = {
    ...process.env,
    ANSIBLE_STDOUT_CALLBACK: 'patchflow_json',
    ANSIBLE_CALLBACK_PLUGINS: callbackDir,
    ANSIBLE_LOAD_CALLBACK_PLUGINS: '1',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    ANSIBLE_HOST_KEY_CHECKING: config.hostKeyChecking ? 'True' : 'False',
    ANSIBLE_DEPRECATION_WARNINGS: 'False',
    ANSIBLE_LOCAL_TEMP: path.join(run.workDir, 'ansible-tmp'),
    ...sshExtraArgs(config),
  };
  const started = Date.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      // Own process group, so that a cancel or timeout stops ansible's forks too.
      const child = spawn(config.ansiblePlaybookBin, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
      child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
      const killGroup = () => {
        if (child.pid) {
          try {
            process.kill(-child.pid, 'SIGTERM');
          } catch {
            // already gone
          }
        }
      };
      const progress = setInterval(
        () =>
          run.onProgress?.(
            `ansible-playbook on ${run.hosts.length} host(s), ${Math.round((Date.now() - started) / 1000)}s`,
          ),
        2000,
      );
      const timeout = setTimeout(killGroup, config.runTimeoutSeconds * 1000);
      run.signal?.addEventListener('abort', killGroup, { once: true });
      child.on('error', (e) => {
        clearInterval(progress);
        clearTimeout(timeout);
        reject(
          new UpstreamError(`cannot run ${config.ansiblePlaybookBin}: ${e.message}`, { retryable: false, cause: e }),
        );
      });
      child.on('close', (c) => {
        clearInterval(progress);
        clearTimeout(timeout);
        run.signal?.removeEventListener('abort', killGroup);
        resolve({ code: c, stdout: out, stderr: err });
      });
    },
  );
  if (run.signal?.aborted) throw new UpstreamError('ansible-playbook run cancelled', { retryable: false });
  if (code === 0 || code === 2 || code === 4) return parsePlaybookJson(stdout);
  // "--limit leaves us with no hosts": none of the hosts is in the inventory; report each of them.
  if (/no hosts to target|no hosts matched/i.test(stderr + stdout))
    return { plays: [], stats: {}, global_custom_stats: {} };
  throw new UpstreamError(
    `ansible-playbook exited with ${code === null ? 'a signal' : code}: ${lastLines(stderr || stdout)}`,
    { retryable: code === null },
  );
}

/**
 * ssh options for the configured known_hosts file. `StrictHostKeyChecking=yes` because ssh's own
 * default (`ask`) would prompt, and a run has no terminal. An inventory's `ansible_ssh_extra_args`
 * replaces these for its hosts, as Ansible gives variables precedence over the environment.
 */
function sshExtraArgs(config: AnsibleConfig): Record<string, string> {
  if (!config.knownHostsFile) return {};
  const own = [
    `-o UserKnownHostsFile=${config.knownHostsFile}`,
    ...(config.hostKeyChecking ? ['-o StrictHostKeyChecking=yes'] : []),
  ];
  return { ANSIBLE_SSH_EXTRA_ARGS: [process.env['ANSIBLE_SSH_EXTRA_ARGS'], ...own].filter(Boolean).join(' ') };
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ').slice(0, 800);
}
