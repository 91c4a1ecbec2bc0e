import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_PATCH, writeDemoFleet } from '../../demo/seed.ts';
import { ansibleConnector } from '../../integrations/ansible/index.ts';
import { createLogger } from '../../kernel/logger.ts';
import { describePatchDeployerContract } from '../contract/patch-deployer.contract.ts';
import { describeInventorySourceContract } from '../contract/inventory-source.contract.ts';

const patch = {
  patchId: DEMO_PATCH.id,
  title: DEMO_PATCH.title,
  vendorRef: DEMO_PATCH.vendorRef,
  targetVersion: DEMO_PATCH.targetVersion,
};

/** A fresh folder of local-connection hosts, patched by real ansible-playbook runs of the demo playbook. */
function ansibleFleet() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-ansible-'));
  const fleet = writeDemoFleet(dataDir, { hostnames: ['host-a', 'host-b', 'host-bad'], failing: ['host-bad'] });
  const connector = ansibleConnector.create(ansibleConnector.configSchema.parse({ inventory: fleet.inventoryPath }), {
    logger: createLogger({}, 'warn'),
    workDir: dataDir,
  });
  const history = (h: string) => {
    const file = path.join(fleet.hostRoot(h), 'patch-history.log');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
  };
  return { dataDir, fleet, connector, history };
}

describePatchDeployerContract('ansible (real ansible-playbook)', async () => {
  const { fleet, connector, history } = ansibleFleet();
  return {
    deployer: connector.deployer,
    targets: [
      { assetId: 'a', hostname: 'host-a' },
      { assetId: 'b', hostname: 'host-b' },
    ],
    failingTarget: { assetId: 'bad', hostname: 'host-bad' },
    patch,
    readInstalledState: async (h) =>
      readFileSync(path.join(fleet.hostRoot(h), 'app', 'VERSION'), 'utf8').trim() === DEMO_PATCH.targetVersion,
    countHostChanges: async () => ['host-a', 'host-b', 'host-bad'].reduce((n, h) => n + history(h).length, 0),
    testConnection: () => connector.testConnection(),
  };
});

describeInventorySourceContract('ansible (real ansible-inventory)', async () => {
  const { connector } = ansibleFleet();
  return {
    inventory: connector.inventory,
    expected: ['host-a', 'host-b', 'host-bad'].map((hostname) => ({ hostname })),
    close: async () => {},
  };
});

describe('ansible backups', () => {
  it('backs up each host before patching, and rolls back to the cycle backup', async () => {
    const { fleet, connector } = ansibleFleet();
    const targets = [{ assetId: 'a', hostname: 'host-a' }];
    const backups = await connector.backup.backup({ cycleId: 'cyc-backup', patch, targets });
    expect(backups).toEqual([
      expect.objectContaining({ hostname: 'host-a', ok: true, reference: 'host-a:backups/cyc-backup' }),
    ]);
    expect(readFileSync(path.join(fleet.hostRoot('host-a'), 'backups', 'cyc-backup', 'VERSION'), 'utf8').trim()).toBe(
      '2.4.0',
    );
    await connector.deployer.deploy({ cycleId: 'cyc-backup', ring: 'r', patch, targets });
    const rolled = await connector.deployer.rollback({ cycleId: 'cyc-backup', ring: 'r', patch, targets });
    expect(rolled[0]?.outcome).toBe('patched');
    expect(readFileSync(path.join(fleet.hostRoot('host-a'), 'app', 'VERSION'), 'utf8').trim()).toBe('2.4.0');
  });
});

/** A connector over a playbook and inventory written by the test, for what the demo playbook does not do. */
function ownPlaybook(files: Record<string, string>, inventoryLines: string[]) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-ansible-own-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  const inventory = path.join(dir, 'inventory.ini');
  writeFileSync(
    inventory,
    [
      ...inventoryLines,
      '',
      '[all:vars]',
      'ansible_connection=local',
      'ansible_python_interpreter="{{ ansible_playbook_python }}"',
      '',
    ].join('\n'),
  );
  return ansibleConnector.create(
    ansibleConnector.configSchema.parse({ inventory, playbook: path.join(dir, 'playbook.yml') }),
    { logger: createLogger({}, 'warn'), workDir: dir },
  );
}

describe('ansible results that real playbooks produce', () => {
  it('takes stdout of any JSON type, and reports hosts by the recap when a rescue block handled a failure', async () => {
    const connector = ownPlaybook(
      {
        // Shaped like cisco.ios.ios_command's result: one stdout entry per command, stdout_lines a list of lists.
        'library/net_patch.py': [
          '#!/usr/bin/python3',
          'from ansible.module_utils.basic import AnsibleModule',
          'module = AnsibleModule(argument_spec={}, supports_check_mode=True)',
          "out = ['install add file flash:patch-17.9.4a.bin activate commit', 'SUCCESS: install_add_activate_commit']",
          'module.exit_json(changed=True, stdout=out, stdout_lines=[o.splitlines() for o in out])',
          '',
        ].join('\n'),
        'playbook.yml': [
          '- name: Patch switches and servers',
          '  hosts: all',
          '  gather_facts: false',
          '  tasks:',
          '    - name: Push the patch to the switch',
          "      when: inventory_hostname == 'switch-01'",
          '      net_patch:',
          '    - name: Install the patch',
          "      when: inventory_hostname != 'switch-01'",
          '      block:',
          '        - name: Install from the primary mirror',
          '          ansible.builtin.shell: "echo primary; exit {{ primary_rc | default(0) }}"',
          '      rescue:',
          '        - name: Install from the fallback mirror',
          '          ansible.builtin.shell: "echo fallback; exit {{ fallback_rc | default(0) }}"',
          '',
        ].join('\n'),
      },
      ['switch-01', 'mirror-ok', 'mirror-down primary_rc=1', 'all-down primary_rc=1 fallback_rc=1'],
    );
    const hosts = ['switch-01', 'mirror-ok', 'mirror-down', 'all-down'];
    const results = await connector.deployer.deploy({
      cycleId: 'c-results',
      ring: 'r',
      patch,
      targets: hosts.map((h) => ({ assetId: h, hostname: h })),
    });
    expect(results.map((r) => [r.hostname, r.outcome])).toEqual([
      ['switch-01', 'patched'],
      ['mirror-ok', 'patched'],
      ['mirror-down', 'patched'],
      ['all-down', 'failed'],
    ]);
    expect(results[0]?.message).toBe(
      'Push the patch to the switch: ["install add file flash:patch-17.9.4a.bin activate commit","SUCCESS: install_add_activate_commit"]',
    );
    expect(results[0]?.evidence).toMatchObject({
      tasks: [
        { task: 'Push the patch to the switch', stdout: expect.arrayContaining([expect.stringMatching(/^SUCCESS/)]) },
      ],
    });
    expect(results[1]?.message).toBe('Install from the primary mirror: primary');
    expect(results[2]?.message).toBe(
      'Install from the fallback mirror: fallback; a rescue block handled a failed task (Install from the primary mirror: non-zero return code)',
    );
    expect(results[2]?.evidence).toMatchObject({ stats: { failures: 0, rescued: 1 } });
    // The rescue failed too: the failure that counted is the fallback's, not the first one.
    expect(results[3]?.message).toBe('Install from the fallback mirror: non-zero return code');
    expect(results[3]?.evidence).toMatchObject({ stats: { failures: 1, rescued: 1 } });
  });

  it('reports a reboot the playbook left pending as patched with rebootPending, and reboots when the policy allows', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-ansible-reboot-'));
    const fleet = writeDemoFleet(dataDir, { hostnames: ['kern-01', 'kern-02'] });
    // The demo patch needs a reboot on these hosts, as a kernel update would.
    writeFileSync(
      fleet.inventoryPath,
      readFileSync(fleet.inventoryPath, 'utf8').replace(
        /^(kern-0\d .*)$/gm,
        '$1 patchflow_simulate_reboot_required=true',
      ),
    );
    const connector = ansibleConnector.create(ansibleConnector.configSchema.parse({ inventory: fleet.inventoryPath }), {
      logger: createLogger({}, 'warn'),
      workDir: dataDir,
    });
    const request = (hostname: string, reboot: 'never' | 'if-required') => ({
      cycleId: 'c-reboot',
      ring: 'r',
      patch,
      reboot,
      targets: [{ assetId: hostname, hostname }],
    });
    const reboots = (h: string) => {
      const log = path.join(fleet.hostRoot(h), 'patch-history.log');
      return existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l.endsWith(' reboot')).length
        : 0;
    };

    const [pending] = await connector.deployer.deploy(request('kern-01', 'never'));
    expect(pending).toMatchObject({
      outcome: 'patched',
      message: expect.stringMatching(
        /^Install the patch: PATCHED 2\.4\.0 -> 2\.4\.1; reboot pending: .*reboot policy never/,
      ),
      evidence: expect.objectContaining({ rebootPending: true }),
    });
    expect(reboots('kern-01')).toBe(0);
    const [verified] = await connector.deployer.verify(request('kern-01', 'never'));
    expect(verified).toMatchObject({
      outcome: 'already_compliant',
      evidence: expect.objectContaining({ rebootPending: true }),
    });

    const [rebooted] = await connector.deployer.deploy(request('kern-02', 'if-required'));
    expect(rebooted?.outcome).toBe('patched');
    expect(rebooted?.evidence).not.toHaveProperty('rebootPending');
    expect(reboots('kern-02')).toBe(1);
  });
});
