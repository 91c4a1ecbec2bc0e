import { z } from 'zod';
import { secret } from '../../contract/connector.ts';
import { durationSchema } from '../../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

/** A flag from the config file (a boolean) or from the environment (`true`/`false`, `1`/`0`, `yes`/`no`). */
const flag = z.union([z.boolean(), z.stringbool()]);

export const vsphereConfigSchema = z.object({
  /** The vSphere Web Services endpoint of vCenter (or a standalone ESXi host), e.g. `https://vcenter.corp.example/sdk`. */
  url: z.url({ protocol: /^https$/ }).refine((u) => new URL(u).pathname.replace(/\/+$/, '') === '/sdk', {
    message: 'the SOAP endpoint, ending in /sdk (e.g. https://vcenter.corp.example/sdk)',
  }),
  /** A vCenter user with VirtualMachine.State.CreateSnapshot, RevertToSnapshot and RemoveSnapshot on the patched VMs. */
  username: z.string().min(1),
  password: secret(),
  /** A PEM file of CA certificates to trust besides the system's, e.g. the VMCA root of a vCenter with its own certificates. */
  caFile: z.string().min(1).optional(),
  /** Off only for a lab vCenter whose certificate cannot be trusted any other way: the password then goes to whoever answers. */
  insecure: flag.default(false),
  /**
   * How a host in Patchflow's inventory is found in vSphere. `dnsName`: the guest's host name as VMware
   * Tools reports it (SearchIndex.FindByDnsName), then the asset's address as the guest's IP
   * (FindByIp); needs VMware Tools running. `vmName`: the VM's inventory name equals the host name
   * (or its first label), for estates that name VMs after their hosts.
   */
  vmLookup: z.enum(['dnsName', 'vmName']).default('dnsName'),
  /** Start of every snapshot's name, so that people and clean-up jobs can tell Patchflow's snapshots from their own. */
  snapshotPrefix: z
    .string()
    .min(1)
    .max(40)
    .regex(/^[\w.-]+$/, 'letters, digits, ".", "_" or "-"')
    .default('patchflow'),
  /** Include the guest's memory: a revert then resumes the running VM, at the cost of a snapshot as large as its RAM. */
  memory: flag.default(false),
  /** Quiesce the guest's file systems through VMware Tools first, so that the disks are consistent; ignored without Tools. */
  quiesce: flag.default(true),
  /** How often a vSphere task is asked for its state while it runs. */
  pollInterval: durationSchema.default(d('2s')),
  /** A snapshot task still running after this counts as failed (a quiesced snapshot of a busy VM can take minutes). */
  taskTimeout: durationSchema.default(d('30m')),
  requestTimeout: durationSchema.default(d('60s')),
});
export type VsphereConfig = z.infer<typeof vsphereConfigSchema>;
