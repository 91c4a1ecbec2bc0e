import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BackupRequest } from '../../integrations/contract/index.ts';
import { createVsphereSnapshots, vsphereConnector } from '../../integrations/backups/vsphere/index.ts';
import { vsphereConfigSchema } from '../../integrations/backups/vsphere/config.ts';
import { createConnectorRegistry } from '../../integrations/registry.ts';
import { InputError, NotAllowedError, NotFoundError, UpstreamError } from '../../kernel/errors.ts';
import { instantiate, quietDeps } from '../helpers/connectors.ts';
import { startVcsim, type Vcsim } from '../helpers/vcsim.ts';

let sim: Vcsim;
beforeAll(async () => {
  sim = await startVcsim();
});
afterAll(async () => {
  await sim?.stop();
});

const config = (over: Record<string, unknown> = {}) =>
  vsphereConfigSchema.parse({
    url: sim.url,
    username: sim.username,
    password: sim.password,
    caFile: sim.caFile,
    vmLookup: 'vmName',
    pollInterval: '50ms',
    ...over,
  });

const request = (hostname: string, over: Partial<BackupRequest> = {}): BackupRequest => ({
  cycleId: 'cyc-1',
  patch: { patchId: 'KB5034441', title: 'Security update', vendorRef: 'KB5034441' },
  targets: [{ assetId: `a-${hostname}`, hostname }],
  ...over,
});

describe('vSphere snapshot backups against vcsim', () => {
  it('snapshots a VM, verifies it, and reverts the VM to it after a later change', async () => {
    const snapshots = createVsphereSnapshots(config());
    const notes: string[] = [];
    const [result] = await snapshots.backup(request('DC0_H0_VM0', { onProgress: (n) => notes.push(n) }));
    expect(result).toMatchObject({ hostname: 'DC0_H0_VM0', ok: true });
    expect(result?.reference).toMatch(/^vm-\d+\/snapshot-\d+$/);
    expect(notes[0]).toContain('DC0_H0_VM0');
    const reference = result!.reference;

    const check = await snapshots.verify(reference);
    expect(check).toMatchObject({ name: 'patchflow-cyc-1-KB5034441', current: true });
    expect(reference.startsWith(`${check.vm}/`)).toBe(true);

    // The same cycle and patch again (an activity retried): the snapshot taken before is reported, not a second one.
    const [again] = await snapshots.backup(request('DC0_H0_VM0'));
    expect(again?.reference).toBe(reference);
    expect(again?.message).toContain('already taken');

    // The change after the backup: a later state of the VM, which becomes its current snapshot.
    const [later] = await snapshots.backup(request('DC0_H0_VM0', { cycleId: 'cyc-2' }));
    expect(later?.reference).not.toBe(reference);
    expect((await snapshots.verify(reference)).current).toBe(false);

    await snapshots.restore(reference);
    expect((await snapshots.verify(reference)).current).toBe(true);
    expect((await snapshots.verify(later!.reference)).current).toBe(false);

    await snapshots.remove(later!.reference);
    await expect(snapshots.verify(later!.reference)).rejects.toThrow(NotFoundError);
    await expect(snapshots.verify(later!.reference)).rejects.toThrow(/snapshot-\d+ is no longer in the snapshot tree/);
  });

  it('finds a VM by the guest host name VMware Tools reports, then by the asset address', async () => {
    const [byName] = await createVsphereSnapshots(config()).backup(request('DC0_H0_VM1'));
    const vm = byName!.reference.split('/')[0] as string;
    await sim.soap(
      'ReconfigVM_Task',
      `<_this type="VirtualMachine">${vm}</_this><spec><extraConfig><key>SET.guest.hostName</key><value xsi:type="xsd:string" xmlns:xsd="http://www.w3.org/2001/XMLSchema">web01.corp.example</value></extraConfig></spec>`,
    );
    const byDns = createVsphereSnapshots(config({ vmLookup: 'dnsName' }));
    await vi.waitFor(
      async () => {
        const [r] = await byDns.backup(request('web01.corp.example', { cycleId: 'cyc-dns' }));
        expect(r).toMatchObject({ ok: true });
        expect(r?.reference.startsWith(`${vm}/`)).toBe(true);
      },
      { timeout: 10_000, interval: 100 },
    );
  });

  it('reports a host with no VM as that host failing, naming it and how it was looked up', async () => {
    const snapshots = createVsphereSnapshots(config({ vmLookup: 'dnsName' }));
    const [r] = await snapshots.backup({
      ...request('ghost.corp.example'),
      targets: [{ assetId: 'a-ghost', hostname: 'ghost.corp.example', address: '10.9.9.9' }],
    });
    expect(r).toMatchObject({ hostname: 'ghost.corp.example', ok: false, reference: '' });
    expect(r?.message).toContain('"ghost.corp.example"');
    expect(r?.message).toContain('IP 10.9.9.9');
  });

  it('refuses a wrong password as NotAllowed, naming the user', async () => {
    const snapshots = createVsphereSnapshots(config({ password: 'wrong' }));
    const err = await snapshots.backup(request('DC0_H0_VM0')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAllowedError);
    expect((err as Error).message).toContain(`user ${sim.username}`);
    const check = await instantiate(vsphereConnector, {
      url: sim.url,
      username: 'x',
      password: 'wrong',
      caFile: sim.caFile,
    }).testConnection();
    expect(check.ok).toBe(false);
    expect(check.message).toContain('user x');
  });

  it('says what to set when the certificate is not trusted', async () => {
    const err = await createVsphereSnapshots(config({ caFile: undefined }))
      .backup(request('DC0_H0_VM0'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).retryable).toBe(false);
    expect((err as Error).message).toContain('set caFile');
  });

  it('fails clearly on a snapshot whose VM was removed', async () => {
    const snapshots = createVsphereSnapshots(config());
    const [r] = await snapshots.backup(request('DC0_C0_RP0_VM1'));
    const vm = r!.reference.split('/')[0] as string;
    await sim.soap('PowerOffVM_Task', `<_this type="VirtualMachine">${vm}</_this>`);
    await vi.waitFor(
      async () => {
        // Destroy_Task fails while the power-off task still runs, and faults once the VM is gone: either is fine here.
        await sim.soap('Destroy_Task', `<_this type="VirtualMachine">${vm}</_this>`).catch(() => undefined);
        await expect(snapshots.verify(r!.reference)).rejects.toThrow(NotFoundError);
      },
      { timeout: 10_000, interval: 100 },
    );
    await expect(snapshots.restore(r!.reference)).rejects.toThrow(`no VirtualMachine ${vm} (it was removed)`);
    const [gone] = await snapshots.backup(request('DC0_C0_RP0_VM1'));
    expect(gone).toMatchObject({ ok: false });
    expect(gone?.message).toContain('no VM named "DC0_C0_RP0_VM1"');
  });

  it('names the bad field of a bad config', async () => {
    const registry = createConnectorRegistry();
    const configure = (settings: Record<string, unknown>) => () =>
      registry.configure({ vsphere: { username: 'u', password: 'p', ...settings } }, quietDeps);
    expect(configure({ url: 'https://vcenter.corp.example/api' })).toThrow(InputError);
    expect(configure({ url: 'https://vcenter.corp.example/api' })).toThrow(/connectors\.vsphere\.url: .*\/sdk/);
    expect(configure({ url: 'http://vcenter.corp.example/sdk' })).toThrow(/connectors\.vsphere\.url/);
    expect(configure({ url: 'https://vcenter.corp.example/sdk', vmLookup: 'uuid' })).toThrow(
      /connectors\.vsphere\.vmLookup/,
    );
    expect(configure({ url: 'https://vcenter.corp.example/sdk', password: '' })).toThrow(
      /connectors\.vsphere\.password/,
    );
    await expect(
      createVsphereSnapshots(config({ caFile: '/nonexistent/ca.pem' })).backup(request('x')),
    ).rejects.toThrow(/cannot read the vSphere CA file \/nonexistent\/ca.pem/);
  });
});
