import type { BackupProvider, BackupRequest, BackupResult, DeployTarget } from '../../contract/index.ts';
import { defineConnector } from '../../contract/connector.ts';
import { InputError, NotAllowedError, NotFoundError, PatchflowError } from '../../../kernel/errors.ts';
import { VsphereClient, type MoRef, type SnapshotNode, type TaskOptions } from './client.ts';
import { vsphereConfigSchema, type VsphereConfig } from './config.ts';

/** What `verify` found: the snapshot, still in its VM's snapshot tree. */
export interface SnapshotCheck {
  reference: string;
  vm: string;
  snapshot: string;
  name: string;
  createTime: string;
  /** Whether the VM currently runs from this snapshot (true right after it was taken or reverted to). */
  current: boolean;
}

/** The backup role plus what a person or a rollback does with a snapshot later. */
export interface VsphereSnapshots extends BackupProvider {
  verify(reference: string, opts?: TaskOptions): Promise<SnapshotCheck>;
  restore(reference: string, opts?: TaskOptions): Promise<void>;
  remove(reference: string, opts?: TaskOptions): Promise<void>;
}

/** A backup's reference: the VM's and the snapshot's managed object ids, `vm-42/snapshot-57`. */
function referenceOf(vm: MoRef, snapshot: MoRef): string {
  return `${vm.value}/${snapshot.value}`;
}

function parseReference(reference: string): { vm: MoRef; snapshot: MoRef } {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(reference);
  if (!m) throw new InputError(`not a vSphere snapshot reference: "${reference}" (expected vm-42/snapshot-57)`);
  return {
    vm: { type: 'VirtualMachine', value: m[1] as string },
    snapshot: { type: 'VirtualMachineSnapshot', value: m[2] as string },
  };
}

function findNode(nodes: SnapshotNode[], match: (n: SnapshotNode) => boolean): SnapshotNode | undefined {
  for (const n of nodes) {
    const found = match(n) ? n : findNode(n.children, match);
    if (found) return found;
  }
  return undefined;
}

/** The first label of a host name: `web01` of `web01.corp.example`, as VMs are often named. */
function shortName(hostname: string): string {
  return hostname.split('.')[0] ?? hostname;
}

/** A per-host failure stays that host's result; a refusal or an outage fails the whole backup, as it would every host. */
function failsEveryHost(err: unknown): boolean {
  return (
    err instanceof NotAllowedError ||
    (err instanceof PatchflowError && err.retryable) ||
    !(err instanceof PatchflowError)
  );
}

export function createVsphereSnapshots(config: VsphereConfig): VsphereSnapshots {
  /** One session per operation, logged out after it, so that no session outlives a cancelled activity. */
  async function withSession<T>(
    signal: AbortSignal | undefined,
    work: (client: VsphereClient) => Promise<T>,
  ): Promise<T> {
    const client = new VsphereClient(config);
    try {
      await client.login(signal);
      return await work(client);
    } finally {
      await client.logout().catch(() => undefined);
    }
  }

  /**
   * Which VM each host is. `dnsName` asks vSphere for the VM whose guest reports the host name
   * (VMware Tools' guest.hostName), then for one whose guest has the asset's address; `vmName`
   * matches the VM's inventory name to the host name or its first label.
   */
  async function resolveVms(
    client: VsphereClient,
    targets: DeployTarget[],
    signal: AbortSignal | undefined,
  ): Promise<Map<string, MoRef | string>> {
    const out = new Map<string, MoRef | string>();
    if (config.vmLookup === 'vmName') {
      const names = targets.flatMap((t) => [t.hostname, shortName(t.hostname)]);
      const found = await client.findVmsByName([...new Set(names)], signal);
      for (const t of targets) {
        const vm = found.get(t.hostname) ?? found.get(shortName(t.hostname));
        out.set(
          t.hostname,
          vm ??
            `no VM named "${t.hostname}" or "${shortName(t.hostname)}" in vSphere at ${new URL(config.url).host} (vmLookup: vmName)`,
        );
      }
      return out;
    }
    for (const t of targets) {
      const vm =
        (await client.findVmByDnsName(t.hostname, signal)) ??
        (t.address ? await client.findVmByIp(t.address, signal) : undefined);
      out.set(
        t.hostname,
        vm ??
          `no VM in vSphere at ${new URL(config.url).host} reports guest host name "${t.hostname}"${t.address ? ` or IP ${t.address}` : ''} (vmLookup: dnsName; is VMware Tools running in it?)`,
      );
    }
    return out;
  }

  /** Takes the snapshot, or finds the one an earlier attempt of the same cycle and patch took. */
  async function snapshotOne(
    client: VsphereClient,
    vm: MoRef,
    req: BackupRequest,
  ): Promise<Pick<BackupResult, 'reference' | 'message'>> {
    const name = `${config.snapshotPrefix}-${req.cycleId}-${req.patch.patchId}`;
    const existing = findNode((await client.snapshots(vm, req.signal)).roots, (n) => n.name === name);
    if (existing)
      return {
        reference: referenceOf(vm, existing.snapshot),
        message: `snapshot "${name}" of ${vm.value} already taken at ${existing.createTime}`,
      };
    const snapshot = await client.createSnapshot(
      vm,
      {
        name,
        description: `Patchflow pre-patch snapshot: cycle ${req.cycleId}, patch ${req.patch.patchId} (${req.patch.title})`,
        memory: config.memory,
        quiesce: config.quiesce,
      },
      req,
    );
    return { reference: referenceOf(vm, snapshot), message: `snapshot "${name}" of ${vm.value} taken` };
  }

  /** The snapshot still exists and sits in its VM's snapshot tree: the VM is its parent. */
  async function verifyIn(client: VsphereClient, reference: string, opts: TaskOptions): Promise<SnapshotCheck> {
    const { vm, snapshot } = parseReference(reference);
    const info = await client.snapshots(vm, opts.signal);
    const node = findNode(info.roots, (n) => n.snapshot.value === snapshot.value);
    if (!node)
      throw new NotFoundError(`snapshot ${snapshot.value} is no longer in the snapshot tree of VM ${vm.value}`);
    return {
      reference,
      vm: vm.value,
      snapshot: snapshot.value,
      name: node.name,
      createTime: node.createTime,
      current: info.current?.value === snapshot.value,
    };
  }

  return {
    async backup(req) {
      if (req.targets.length === 0) return [];
      return withSession(req.signal, async (client) => {
        const vms = await resolveVms(client, req.targets, req.signal);
        const results: BackupResult[] = [];
        for (const t of req.targets) {
          const vm = vms.get(t.hostname);
          if (vm === undefined || typeof vm === 'string') {
            results.push({ hostname: t.hostname, ok: false, reference: '', message: vm ?? 'not looked up' });
            continue;
          }
          req.onProgress?.(`snapshotting ${t.hostname} (${vm.value})`);
          try {
            results.push({ hostname: t.hostname, ok: true, ...(await snapshotOne(client, vm, req)) });
          } catch (err) {
            if (failsEveryHost(err)) throw err;
            results.push({
              hostname: t.hostname,
              ok: false,
              reference: '',
              message: `${t.hostname} (${vm.value}): ${(err as Error).message}`,
            });
          }
        }
        return results;
      });
    },

    verify: (reference, opts = {}) => withSession(opts.signal, (client) => verifyIn(client, reference, opts)),

    async restore(reference, opts = {}) {
      await withSession(opts.signal, async (client) => {
        await verifyIn(client, reference, opts);
        await client.revertToSnapshot(parseReference(reference).snapshot, opts);
      });
    },

    /** Deletes the snapshot once the patch has proven itself: a snapshot left behind grows with every write. */
    async remove(reference, opts = {}) {
      await withSession(opts.signal, async (client) => {
        await verifyIn(client, reference, opts);
        await client.removeSnapshot(parseReference(reference).snapshot, opts);
      });
    },
  };
}

export const vsphereConnector = defineConnector({
  id: 'vsphere',
  title: 'VMware vSphere snapshots (vCenter Web Services API)',
  configSchema: vsphereConfigSchema,
  capabilities: { backup: true },
  env: { prefix: 'VSPHERE', requires: 'url' },
  create(config: VsphereConfig) {
    const snapshots = createVsphereSnapshots(config);
    return {
      backup: snapshots,
      async testConnection() {
        const client = new VsphereClient(config);
        try {
          const about = await client.login();
          return { ok: true, message: `${about.fullName} at ${new URL(config.url).host} as ${config.username}` };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        } finally {
          await client.logout().catch(() => undefined);
        }
      },
    };
  },
});
