import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PATCH } from '../../demo/seed.ts';
import { ansibleConnector } from '../../integrations/ansible/index.ts';
import { ConnectorRegistry } from '../../integrations/contract/registry.ts';
import { InputError } from '../../kernel/errors.ts';
import { quietDeps } from '../helpers/connectors.ts';

/**
 * The Ansible connector over SSH, as production runs it: ansible-playbook connects to a real
 * OpenSSH server (a throwaway sshd on 127.0.0.1, run as the current user with its own host key,
 * no root setup beyond the privilege-separation directory) and checks the server's host key.
 */
const SSHD = '/usr/sbin/sshd';
const user = os.userInfo().username;
const patch = {
  patchId: DEMO_PATCH.id,
  title: DEMO_PATCH.title,
  vendorRef: DEMO_PATCH.vendorRef,
  targetVersion: DEMO_PATCH.targetVersion,
};

interface Sshd {
  port: number;
  /** The server's host key as a known_hosts line. */
  knownHostsLine: string;
  clientKey: string;
  stop(): Promise<void>;
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'patchflow-test', '-f', file]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function startSshd(dir: string): Promise<Sshd> {
  if (!existsSync(SSHD))
    throw new Error(
      'openssh-server is missing (the SSH tests run a throwaway sshd); install it with: apt-get install -y openssh-server',
    );
  // sshd started by root insists on its privilege-separation directory, which the package's service
  // unit creates at boot; where that service never ran (a container), it is missing.
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  keygen(path.join(dir, 'host_ed25519'));
  keygen(path.join(dir, 'client_ed25519'));
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'client_ed25519.pub')));
  const hostKey = readFileSync(path.join(dir, 'host_ed25519.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  // The port is free when asked and taken a moment later; another process may win it in between, so try again.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = path.join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${path.join(dir, 'host_ed25519')}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AllowUsers ${user}`,
        'UsePAM no',
        'StrictModes no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-f', config, '-D', '-e'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const listening = await new Promise<string | undefined>((resolve) => {
      let log = '';
      const timer = setTimeout(() => resolve(`sshd did not report listening within 10s: ${log}`), 10_000);
      child.stderr!.on('data', (b: Buffer) => {
        log += b.toString('utf8');
        if (/Server listening on 127\.0\.0\.1 port \d+/.test(log)) {
          clearTimeout(timer);
          resolve(undefined);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(`sshd exited with ${code}: ${log.trim()}`);
      });
    });
    if (!listening)
      return {
        port,
        knownHostsLine: `[127.0.0.1]:${port} ${hostKey}`,
        clientKey: path.join(dir, 'client_ed25519'),
        stop: () => stopProcess(child),
      };
    await stopProcess(child);
    if (attempt === 3 || !/Address already in use/.test(listening)) throw new Error(listening);
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('ansible over SSH against a real OpenSSH server', () => {
  let dir: string;
  let sshd: Sshd;
  let seq = 0;
  const controlDirs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-ssh-'));
    sshd = await startSshd(dir);
  });
  afterEach(() => {
    // ControlPersist keeps each connection's master ssh running for a minute; these are ours, so stop them.
    for (const cp of controlDirs.splice(0))
      for (const socket of existsSync(cp) ? readdirSync(cp) : [])
        spawnSync('ssh', ['-O', 'exit', '-S', path.join(cp, socket), '127.0.0.1'], { stdio: 'ignore' });
  });
  afterAll(async () => {
    await sshd?.stop();
    // The folder holds the throwaway host and client keys.
    rmSync(dir, { recursive: true, force: true });
  });

  /** A host reached over SSH at 127.0.0.1 and a connector for it; `knownHosts` is the known_hosts file's text. */
  function sshFleet(knownHosts: string, settings: Record<string, unknown> = {}) {
    const run = path.join(dir, `run-${++seq}`);
    const root = path.join(run, 'hosts', 'ssh-01');
    mkdirSync(path.join(root, 'app'), { recursive: true });
    writeFileSync(path.join(root, 'app', 'VERSION'), `${DEMO_PATCH.baseVersion}\n`);
    const knownHostsFile = path.join(run, 'known_hosts');
    writeFileSync(knownHostsFile, knownHosts);
    // Each run gets its own control sockets: a master opened by an earlier run would skip the host-key check.
    const controlDir = path.join(run, 'cp');
    controlDirs.push(controlDir);
    const inventory = path.join(run, 'inventory.ini');
    writeFileSync(
      inventory,
      [
        '[linux]',
        `ssh-01 ansible_host=127.0.0.1 ansible_port=${sshd.port} patchflow_host_root=${JSON.stringify(root)}`,
        '',
        '[linux:vars]',
        'ansible_connection=ssh',
        `ansible_user=${user}`,
        `ansible_ssh_private_key_file=${sshd.clientKey}`,
        `ansible_control_path_dir=${controlDir}`,
        'ansible_python_interpreter="{{ ansible_playbook_python }}"',
        '',
      ].join('\n'),
    );
    const connector = ansibleConnector.create(
      ansibleConnector.configSchema.parse({ inventory, knownHostsFile, ...settings }),
      { ...quietDeps, workDir: run },
    );
    const version = () => readFileSync(path.join(root, 'app', 'VERSION'), 'utf8').trim();
    return { connector, version, knownHostsFile };
  }
  const request = { cycleId: 'c-ssh', ring: 'linux', patch, targets: [{ assetId: 'a-ssh', hostname: 'ssh-01' }] };

  it('deploys and verifies the patch over SSH, the host key checked against the known_hosts file', async () => {
    const { connector, version } = sshFleet(`${sshd.knownHostsLine}\n`);
    const deployed = await connector.deployer.deploy(request);
    expect(deployed).toEqual([
      expect.objectContaining({
        hostname: 'ssh-01',
        outcome: 'patched',
        message: `Install the patch: PATCHED ${DEMO_PATCH.baseVersion} -> ${DEMO_PATCH.targetVersion}`,
      }),
    ]);
    expect(version()).toBe(DEMO_PATCH.targetVersion);
    const verified = await connector.deployer.verify(request);
    expect(verified.map((r) => r.outcome)).toEqual(['already_compliant']);
  });

  it('refuses a host whose key is unknown or has changed, and says which file must vouch for it', async () => {
    const unknown = sshFleet('');
    const [refused] = await unknown.connector.deployer.deploy(request);
    expect(refused).toMatchObject({ hostname: 'ssh-01', outcome: 'unreachable' });
    expect(refused?.message).toMatch(/No ED25519 host key is known for \[127\.0\.0\.1\]:\d+/);
    expect(refused?.message).toContain(`hostKeyChecking is on`);
    expect(refused?.message).toContain(unknown.knownHostsFile);
    expect(unknown.version()).toBe(DEMO_PATCH.baseVersion);

    // Another server's key under this host's name: what a man in the middle looks like.
    const otherKey = path.join(dir, 'other_ed25519');
    keygen(otherKey);
    const other = readFileSync(`${otherKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    const changed = sshFleet(`[127.0.0.1]:${sshd.port} ${other}\n`);
    const [spoofed] = await changed.connector.deployer.deploy(request);
    expect(spoofed).toMatchObject({
      outcome: 'unreachable',
      message: expect.stringMatching(/REMOTE HOST IDENTIFICATION HAS CHANGED/),
    });
    expect(changed.version()).toBe(DEMO_PATCH.baseVersion);
  });

  it('lets an unknown host through only when hostKeyChecking is switched off', async () => {
    const { connector, version } = sshFleet('', { hostKeyChecking: 'false' });
    expect((await connector.deployer.deploy(request)).map((r) => r.outcome)).toEqual(['patched']);
    expect(version()).toBe(DEMO_PATCH.targetVersion);
  });
});

describe('ansible SSH settings', () => {
  const configure = (settings: Record<string, unknown>) =>
    new ConnectorRegistry([ansibleConnector]).configure({ ansible: settings }, quietDeps);

  it('checks host keys unless told otherwise, from a file or an environment variable', () => {
    expect(ansibleConnector.configSchema.parse({}).hostKeyChecking).toBe(true);
    expect(ansibleConnector.configSchema.parse({ hostKeyChecking: 'false' }).hostKeyChecking).toBe(false);
    expect(ansibleConnector.configSchema.parse({ hostKeyChecking: false }).hostKeyChecking).toBe(false);
  });

  it('names the bad field when a setting is wrong', () => {
    for (const [field, value] of [
      ['knownHostsFile', 'relative/known_hosts'],
      ['knownHostsFile', '/etc/ssh/my known_hosts'],
      ['hostKeyChecking', 'sometimes'],
    ] as const) {
      const err = (() => {
        try {
          configure({ [field]: value });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).message).toContain(`connectors.ansible.${field}`);
    }
  });

  it('fails testConnection when the known_hosts file cannot be read', async () => {
    const connector = ansibleConnector.create(
      ansibleConnector.configSchema.parse({ knownHostsFile: '/nonexistent/patchflow/known_hosts' }),
      quietDeps,
    );
    expect(await connector.testConnection()).toEqual({
      ok: false,
      message: expect.stringMatching(/knownHostsFile \/nonexistent\/patchflow\/known_hosts cannot be read \(ENOENT\)/),
    });
  });
});
