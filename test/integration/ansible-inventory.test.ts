import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { listAnsibleInventory } from '../../integrations/ansible/inventory.ts';

const fleet = fileURLToPath(new URL('../fixtures/ansible/inventory-fleet.ini', import.meta.url));

describe('Ansible inventory source (real ansible-inventory)', () => {
  it('maps hosts, nested groups, patch_group and ansible_host, and keeps connection secrets out', async () => {
    const assets = await listAnsibleInventory({ inventoryPath: fleet });
    expect(assets).toEqual([
      {
        hostname: 'WEB-01.example.com',
        fqdn: 'WEB-01.example.com',
        ips: ['10.0.1.11'],
        platform: undefined,
        // The host's own patch_group wins over the one its parent group sets.
        patchGroup: 'canary',
        tags: ['prod', 'web'],
        vars: { ansible_host: '10.0.1.11', patch_group: 'canary' },
      },
      {
        hostname: 'db-01',
        fqdn: undefined,
        ips: ['2001:db8::10'],
        platform: 'linux',
        patchGroup: 'production',
        tags: ['db', 'pci', 'prod'],
        vars: { ansible_host: '2001:db8::10', ansible_user: 'admin', patch_group: 'production', platform: 'linux' },
      },
      {
        hostname: 'web-02',
        fqdn: 'web-02.prod.example.com',
        ips: [],
        platform: undefined,
        patchGroup: 'production',
        tags: ['prod', 'web'],
        vars: { ansible_host: 'web-02.prod.example.com', patch_group: 'production' },
      },
      {
        hostname: 'win-01',
        fqdn: undefined,
        ips: ['10.0.2.21'],
        platform: 'windows',
        patchGroup: undefined,
        tags: ['windows'],
        vars: { ansible_connection: 'winrm', ansible_host: '10.0.2.21' },
      },
    ]);
  });

  it('reads a YAML inventory the same way, including hosts in no group', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'patchflow-ansible-'));
    const file = path.join(dir, 'hosts.yml');
    writeFileSync(
      file,
      'all:\n  hosts:\n    lonely:\n      ansible_host: 192.0.2.50\n  children:\n    staging:\n      vars:\n        patch_group: staging\n      hosts:\n        stage-01:\n',
    );
    expect(await listAnsibleInventory({ inventoryPath: file })).toEqual([
      expect.objectContaining({ hostname: 'lonely', ips: ['192.0.2.50'], tags: [], patchGroup: undefined }),
      expect.objectContaining({ hostname: 'stage-01', ips: [], tags: ['staging'], patchGroup: 'staging' }),
    ]);
  });

  it('fails clearly for an inventory it cannot parse and for a missing binary', async () => {
    await expect(listAnsibleInventory({ inventoryPath: '/nonexistent/inventory.ini' })).rejects.toMatchObject({
      name: 'InputError',
      message: expect.stringMatching(/cannot read Ansible inventory .*No inventory was parsed/),
    });
    await expect(
      listAnsibleInventory({ inventoryPath: fleet, ansibleInventoryBin: 'no-such-ansible-inventory' }),
    ).rejects.toMatchObject({ name: 'UpstreamError', message: expect.stringMatching(/not installed/) });
  });
});
