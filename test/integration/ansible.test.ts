import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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
