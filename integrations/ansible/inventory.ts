import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { DiscoveredAsset } from '../contract/index.ts';
import { InputError, UpstreamError } from '../../kernel/errors.ts';

/**
 * Hosts from an Ansible inventory, as `ansible-inventory -i <path> --list` resolves it: static
 * INI/YAML files, directories and dynamic inventory plugins all come out the same way.
 */
export interface AnsibleInventoryOptions {
  inventoryPath: string;
  ansibleInventoryBin?: string;
  env?: NodeJS.ProcessEnv;
}

/** `--list` output: `_meta.hostvars` (group vars already merged in) plus one entry per group. */
const inventoryListSchema = z.looseObject({
  _meta: z.object({ hostvars: z.record(z.string(), z.record(z.string(), z.unknown())).default({}) }).prefault({}),
});
const groupSchema = z.object({ hosts: z.array(z.string()).default([]), children: z.array(z.string()).default([]) });

/** Ansible's implicit groups say nothing about a host. */
const implicitGroups = new Set(['all', 'ungrouped']);
/** Connection secrets are for ansible-playbook, not for the asset database. */
const secretVar = /pass(word)?|secret|token|private_key|vault/i;
const windowsConnections = new Set(['winrm', 'psrp']);
const RUN_TIMEOUT_MS = 120_000;

export async function listAnsibleInventory(opts: AnsibleInventoryOptions): Promise<DiscoveredAsset[]> {
  const output = await runAnsibleInventory(opts);
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch (err) {
    throw new UpstreamError(`ansible-inventory printed something that is not JSON: ${(err as Error).message}`, {
      retryable: false,
    });
  }
  const parsed = inventoryListSchema.safeParse(json);
  if (!parsed.success)
    throw new UpstreamError(`ansible-inventory output has an unexpected shape: ${parsed.error.issues[0]?.message}`, {
      retryable: false,
    });
  const { _meta, ...groupEntries } = parsed.data;
  const groups = new Map<string, z.output<typeof groupSchema>>();
  for (const [name, value] of Object.entries(groupEntries)) {
    const g = groupSchema.safeParse(value);
    if (g.success) groups.set(name, g.data);
  }
  const groupsOfHost = hostGroups(groups);
  const hostnames = new Set([...Object.keys(_meta.hostvars), ...groupsOfHost.keys()]);
  return [...hostnames]
    .sort()
    .map((hostname) =>
      discoveredAsset(hostname, _meta.hostvars[hostname] ?? {}, groupsOfHost.get(hostname) ?? new Set()),
    );
}

function runAnsibleInventory(opts: AnsibleInventoryOptions): Promise<string> {
  const bin = opts.ansibleInventoryBin ?? 'ansible-inventory';
  // Without this, an unreadable inventory is only a warning and the list is silently empty.
  const env = { ...process.env, ...opts.env, ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true', ANSIBLE_NOCOLOR: 'true' };
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      ['-i', opts.inventoryPath, '--list'],
      { env, timeout: RUN_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        if (e.code === 'ENOENT')
          return reject(
            new UpstreamError(`${bin} is not installed or not on PATH (install ansible-core)`, {
              retryable: false,
              cause: err,
            }),
          );
        if (e.killed)
          return reject(
            new UpstreamError(`${bin} did not finish within ${RUN_TIMEOUT_MS / 1000}s`, {
              retryable: true,
              cause: err,
            }),
          );
        const why = stderr.trim().split('\n').slice(-4).join(' ').replace(/\s+/g, ' ');
        reject(
          new InputError(
            `cannot read Ansible inventory ${opts.inventoryPath}: ${why}`,
            [{ path: ['inventory'], message: why }],
            err,
          ),
        );
      },
    );
  });
}

/** Every group each host belongs to, directly or through parent groups (`[prod:children]`). */
function hostGroups(groups: Map<string, { hosts: string[]; children: string[] }>): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>();
  const visit = (group: string, ancestors: string[]) => {
    const g = groups.get(group);
    // Ansible refuses cyclic groups; the check only keeps a hand-made inventory from looping here.
    if (!g || ancestors.includes(group)) return;
    const lineage = [...ancestors, group];
    for (const host of g.hosts) {
      const set = result.get(host) ?? new Set<string>();
      for (const name of lineage) if (!implicitGroups.has(name)) set.add(name);
      result.set(host, set);
    }
    for (const child of g.children) visit(child, lineage);
  };
  for (const name of groups.keys()) visit(name, []);
  return result;
}

function stringVar(vars: Record<string, unknown>, name: string): string | undefined {
  const v = vars[name];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined;
}

function discoveredAsset(hostname: string, hostvars: Record<string, unknown>, groups: Set<string>): DiscoveredAsset {
  const address = stringVar(hostvars, 'ansible_host') ?? stringVar(hostvars, 'ansible_ssh_host');
  const addressIsIp = address !== undefined && isIP(address) !== 0;
  const dotted = (name: string | undefined) => (name && name.includes('.') && isIP(name) === 0 ? name : undefined);
  const connection = stringVar(hostvars, 'ansible_connection');
  return {
    hostname,
    fqdn: dotted(addressIsIp ? undefined : address) ?? dotted(hostname),
    ips: addressIsIp ? [address] : [],
    platform:
      stringVar(hostvars, 'platform') ?? (connection && windowsConnections.has(connection) ? 'windows' : undefined),
    patchGroup: stringVar(hostvars, 'patch_group'),
    tags: [...groups].sort(),
    vars: Object.fromEntries(Object.entries(hostvars).filter(([name]) => !secretVar.test(name))),
  };
}
