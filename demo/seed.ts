import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { assetInputSchema, upsertAssets } from '../db/repositories/assets.ts';
import { getBaseline, saveBaseline } from '../db/repositories/baselines.ts';
import { upsertUser, type UserInput } from '../db/repositories/users.ts';
import { baselineSchema } from '../prioritization/baselines.ts';
import type { Classification, Platform } from '../prioritization/vocabulary.ts';

/**
 * The demo fleet: five local-connection hosts, each a folder with a versioned application file,
 * patched by real ansible-playbook runs. Seeding is idempotent, so `cycle start --demo` can be
 * run again and again; host folders keep their state between cycles like real hosts do.
 */
export const DEMO_PATCH = {
  id: 'DEMO-APP-2.4.1',
  title: 'demo-app 2.4.1 security update',
  vendorRef: 'demo-app',
  targetVersion: '2.4.1',
  baseVersion: '2.4.0',
};
/** What the demo patch fixes: the HTTP/2 Rapid Reset flaw the demo scan finds on the web hosts, so a cycle can be scoped from findings. */
const DEMO_PATCH_CVES = ['CVE-2023-44487'];
/** Auto-approves the demo patch, as a real baseline approves security updates a few days after release. */
const demoBaseline = baselineSchema.parse({
  id: 'demo-linux',
  platform: 'linux',
  rules: [{ classifications: ['Security Updates'], minSeverity: 'important', approveAfter: '3d' }],
});

export const demoAssets = [
  {
    hostname: 'staging-01',
    criticality: 4,
    exposure: 'internal',
    patchGroup: 'staging',
    owner: 'platform-team',
    businessService: 'demo-app',
    platform: 'linux',
  },
  {
    hostname: 'web-01',
    criticality: 3,
    exposure: 'internet',
    patchGroup: 'web',
    owner: 'web-team',
    businessService: 'storefront',
    platform: 'linux',
  },
  {
    hostname: 'web-02',
    criticality: 3,
    exposure: 'internet',
    patchGroup: 'web',
    owner: 'web-team',
    businessService: 'storefront',
    platform: 'linux',
  },
  {
    hostname: 'app-01',
    criticality: 2,
    exposure: 'internal',
    patchGroup: 'app',
    owner: 'app-team',
    businessService: 'orders',
    platform: 'linux',
  },
  {
    hostname: 'db-01',
    criticality: 1,
    exposure: 'internal',
    patchGroup: 'db',
    owner: 'dba-team',
    businessService: 'orders',
    platform: 'linux',
  },
] as const;

export const demoUsers: UserInput[] = [
  { id: 'carol', displayName: 'Carol (patch coordinator)', roles: ['coordinator'] },
  { id: 'alice', displayName: 'Alice (CAB approver)', roles: ['approver'] },
  { id: 'bob', displayName: 'Bob (CAB approver)', roles: ['approver'] },
  { id: 'maria', displayName: 'Maria (IT manager)', roles: ['manager'] },
];

export interface DemoFleet {
  inventoryPath: string;
  hostRoot(hostname: string): string;
}

/** Writes the Ansible inventory and host folders under `dataDir/demo`. `failing` hosts fail their health check. */
export function writeDemoFleet(dataDir: string, opts: { failing?: string[]; hostnames?: string[] } = {}): DemoFleet {
  const demoDir = path.resolve(dataDir, 'demo');
  const hostRoot = (h: string) => path.join(demoDir, 'hosts', h);
  const hostnames = opts.hostnames ?? demoAssets.map((a) => a.hostname);
  const lines = ['[demo]'];
  for (const h of hostnames) {
    mkdirSync(path.join(hostRoot(h), 'app'), { recursive: true });
    const versionFile = path.join(hostRoot(h), 'app', 'VERSION');
    if (!existsSync(versionFile)) writeFileSync(versionFile, `${DEMO_PATCH.baseVersion}\n`);
    const failing = opts.failing?.includes(h) ? ' patchflow_simulate_failure=true' : '';
    lines.push(`${h} patchflow_host_root=${JSON.stringify(hostRoot(h))}${failing}`);
  }
  lines.push(
    '',
    '[demo:vars]',
    'ansible_connection=local',
    'ansible_python_interpreter="{{ ansible_playbook_python }}"',
    '',
  );
  const inventoryPath = path.join(demoDir, 'inventory.ini');
  writeFileSync(inventoryPath, lines.join('\n'));
  return { inventoryPath, hostRoot };
}

/** Writes the demo fleet the first time only: later cycles find the hosts as earlier cycles left them. */
export function ensureDemoFleet(dataDir: string): DemoFleet {
  const inventory = path.resolve(dataDir, 'demo', 'inventory.ini');
  if (!existsSync(inventory)) return writeDemoFleet(dataDir);
  return { inventoryPath: inventory, hostRoot: (h) => path.resolve(dataDir, 'demo', 'hosts', h) };
}

export async function seedDemoRecords(
  db: Knex,
  hostnames: string[] = demoAssets.map((a) => a.hostname),
): Promise<void> {
  await db.transaction(async (trx) => {
    await upsertAssets(
      trx,
      demoAssets
        .filter((a) => hostnames.includes(a.hostname))
        .map((a) => assetInputSchema.parse({ ...a, tags: ['demo'], source: 'demo' })),
    );
    await trx('patches')
      .insert({
        id: DEMO_PATCH.id,
        title: DEMO_PATCH.title,
        vendor_ref: DEMO_PATCH.vendorRef,
        vendor: 'Patchflow demo',
        classification: 'Security Updates' satisfies Classification,
        severity: 'Critical',
        platform: 'linux' satisfies Platform,
        target_version: DEMO_PATCH.targetVersion,
        released_at: '2026-11-10',
      })
      .onConflict('id')
      .ignore();
    await trx('patch_cves')
      .insert(DEMO_PATCH_CVES.map((cve) => ({ patch_id: DEMO_PATCH.id, cve_id: cve })))
      .onConflict(['patch_id', 'cve_id'])
      .ignore();
    // A baseline someone already edited is theirs; only a missing one is created.
    if (!(await getBaseline(trx, demoBaseline.id))) await saveBaseline(trx, demoBaseline);
    for (const u of demoUsers) {
      if (!(await trx('users').where({ id: u.id }).first())) await upsertUser(trx, u);
    }
  });
}
