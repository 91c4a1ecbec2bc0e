import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { awxConnector } from '../../integrations/awx/index.ts';
import type { DeployRequest } from '../../integrations/contract/index.ts';
import { AwxEmulator } from '../emulators/awx.ts';
import { instantiate } from '../helpers/connectors.ts';

/** How AWX jobs end and what their host summaries, events and artifacts say, read by the AWX deployer. */
const token = 'pf-token-5678';
const patch = {
  patchId: 'p-kernel',
  title: 'kernel 6.1.119',
  vendorRef: 'linux-image-6.1.119',
  targetVersion: '6.1.119',
};

describe('awx deployer: job states, rescued hosts and reboots', () => {
  let emu: AwxEmulator;
  const deployer = () =>
    instantiate(awxConnector, {
      url: emu.url,
      token,
      jobTemplateId: 7,
      pollInterval: '5ms',
      maxPollInterval: '20ms',
      jobTimeout: '5s',
      requestTimeout: '5s',
    }).deployer;
  const request = (hostnames: string[], extra: Partial<DeployRequest> = {}): DeployRequest => ({
    cycleId: 'c-77',
    ring: 'ring2',
    patch,
    targets: hostnames.map((h, i) => ({ assetId: `a${i}`, hostname: h })),
    ...extra,
  });

  beforeEach(async () => {
    emu = await new AwxEmulator({ token, jobTemplateId: 7, readsToFinish: 2 }).start();
    emu.addHost('web01');
    emu.addHost('web02');
    emu.addHost('db01', { failInstall: true });
    emu.addHost('mirror01', { rescueInstall: true });
    emu.addHost('kern01', { requiresReboot: true });
  });
  afterEach(() => emu.close());

  it('reports no host of a cancelled job as patched, even when its summaries show changes', async () => {
    emu.interruptNextJob('canceled');
    const results = await deployer().deploy(request(['web01', 'web02']));
    // The playbook did change the hosts before the job was cancelled: the summaries are not to be trusted either way.
    expect(emu.isInstalled('web01', patch.vendorRef)).toBe(true);
    expect(results).toEqual([
      expect.objectContaining({
        hostname: 'web01',
        outcome: 'failed',
        message: expect.stringMatching(/^AWX job \d+ ended canceled .*state of this host is unknown.*reported changes/),
      }),
      expect.objectContaining({ hostname: 'web02', outcome: 'failed', message: expect.stringContaining('canceled') }),
    ]);
    expect(results[0]?.evidence).toMatchObject({
      awxJobId: expect.any(Number),
      jobStatus: 'canceled',
      hostSummary: { changed: 1, failures: 0 },
    });
  });

  it('reports the hosts of an errored job failed with AWX explanation and the last traceback line', async () => {
    emu.interruptNextJob('error');
    const results = await deployer().deploy(request(['web01', 'never-seen-01']));
    expect(results.map((r) => r.outcome)).toEqual(['failed', 'failed']);
    for (const r of results) {
      expect(r.message).toContain('ended error');
      expect(r.message).toContain('Job terminated due to error');
      expect(r.message).toContain('RuntimeError: Receptor detail: connection to awx-ee-node-2 lost');
    }
  });

  it('passes the reboot policy as patchflow_reboot, with if-required when the cycle says nothing', async () => {
    await deployer().deploy(request(['web01'], { reboot: 'never' }));
    await deployer().deploy(request(['web02'], { reboot: 'always' }));
    await deployer().deploy(request(['web02']));
    expect(emu.launches.map((l) => (l.extra_vars as Record<string, unknown>)['patchflow_reboot'])).toEqual([
      'never',
      'always',
      'if-required',
    ]);
    expect(emu.rebootsOf('web01')).toBe(0);
    expect(emu.rebootsOf('web02')).toBe(1);
  });

  it('reports a reboot the playbook left pending as patched with rebootPending, and none when it rebooted', async () => {
    const [pending] = await deployer().deploy(request(['kern01'], { reboot: 'never' }));
    expect(pending).toMatchObject({
      hostname: 'kern01',
      outcome: 'patched',
      message: expect.stringMatching(/reboot pending.*reboot policy never/),
      evidence: expect.objectContaining({ rebootPending: true }),
    });
    expect(emu.rebootsOf('kern01')).toBe(0);

    await emu.close();
    emu = await new AwxEmulator({ token, jobTemplateId: 7, readsToFinish: 2 }).start();
    emu.addHost('kern01', { requiresReboot: true });
    const [rebooted] = await deployer().deploy(request(['kern01'], { reboot: 'if-required' }));
    expect(rebooted?.outcome).toBe('patched');
    expect(rebooted?.evidence).not.toHaveProperty('rebootPending');
    expect(rebooted?.message).not.toMatch(/pending/);
    expect(emu.rebootsOf('kern01')).toBe(1);
  });

  it('reports a host whose failed install a rescue block recovered by its recap, not by the failed task', async () => {
    const results = await deployer().deploy(request(['mirror01', 'db01', 'web01']));
    expect(results[0]).toMatchObject({
      hostname: 'mirror01',
      outcome: 'patched',
      message: expect.stringMatching(/rescue block handled.*primary repository failed/),
      evidence: expect.objectContaining({ rescued: 1 }),
    });
    expect(emu.isInstalled('mirror01', patch.vendorRef)).toBe(true);
    // db01's install failed and its rescue reported the failure: the message is the failure that counted.
    expect(results[1]).toMatchObject({
      hostname: 'db01',
      outcome: 'failed',
      message:
        'Report the failure: linux-image-6.1.119 was not installed (exit code 1603); the host was left as it was',
    });
    expect(results[2]?.outcome).toBe('patched');
  });
});
