import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureInventorySchedules, type InventorySyncReport } from '../../app/inventory-sync.ts';
import type { InventoryConnectorStatus } from '../../app/inventory-sync.ts';
import { getAsset, updateScannedAssets } from '../../db/repositories/assets.ts';
import { InputError } from '../../kernel/errors.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { inventoryScheduleId, type InventorySyncOutcome } from '../../workflows/inventory-sync.ts';
import { WsusEmulator } from '../emulators/winrm-wsus.ts';
import { runCli } from '../helpers/cli.ts';
import { api, startStack, type TestStack } from '../helpers/stack.ts';

const credentials = { username: 'CORP\\svc-patchflow', password: 'S3cret!' };
const scannedOs = 'Microsoft Windows Server 2022 Standard';

/** A WSUS server as the fleet changes: each call builds the emulator with these computers. */
async function wsusWith(
  computers: { fullDomainName: string; ipAddress: string; groups?: string[] }[],
): Promise<WsusEmulator> {
  const emu = await new WsusEmulator(credentials).start();
  emu.addGroup('Patchflow ring1');
  for (const c of computers) emu.addComputer(c);
  return emu;
}

/**
 * The connector's one endpoint in front of the WSUS server of the moment: the emulator keeps its
 * computers for its life, so the fleet "changes" by pointing this at a second emulator, dropping
 * connections to the first.
 */
async function switchableEndpoint(target: URL): Promise<{ url: string; switchTo(u: URL): void; close(): void }> {
  let current = target;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(current.port), current.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    switchTo(u) {
      current = u;
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('inventory sync: settings', () => {
  const settingsError = (env: NodeJS.ProcessEnv) => {
    try {
      loadSettings(env);
    } catch (err) {
      return err as InputError;
    }
    throw new Error('the settings were accepted');
  };

  it('a bad interval is refused naming the field', () => {
    const err = settingsError({ PATCHFLOW_INVENTORY_SCHEDULE_WSUS: 'hourly' });
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe('invalid settings: inventory.schedule.wsus: a duration such as 6h, or off');
    expect(err.details).toEqual([
      { path: ['inventory', 'schedule', 'wsus'], message: 'a duration such as 6h, or off' },
    ]);
    expect(settingsError({ PATCHFLOW_INVENTORY_SCHEDULE_SCCM: '5s' }).message).toBe(
      'invalid settings: inventory.schedule.sccm: at least 1m',
    );
  });

  it('a connector that lists no assets is refused in the config file, naming it', () => {
    const file = path.join(process.env['TMPDIR'] ?? '/tmp', `patchflow-inventory-bad-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ inventory: { schedule: { kev: '6h' } } }));
    const err = settingsError({ PATCHFLOW_CONFIG: file });
    expect(err.message).toMatch(/^invalid settings: inventory\.schedule: Unrecognized key: "kev"/);
  });

  it('every inventory connector syncs every 6h unless told otherwise', () => {
    expect(loadSettings({}).inventory).toEqual({
      schedule: { ansible: '6h', wsus: '6h', sccm: '6h' },
      syncTimeout: '15m',
    });
  });
});

describe('inventory sync against WSUS', () => {
  let before: WsusEmulator;
  let after: WsusEmulator;
  let endpoint: Awaited<ReturnType<typeof switchableEndpoint>>;
  let stack: TestStack;
  let cliEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    before = await wsusWith([
      { fullDomainName: 'wweb01.corp.example', ipAddress: '10.0.0.11' },
      { fullDomainName: 'wweb02.corp.example', ipAddress: '10.0.0.12' },
      { fullDomainName: 'wdb01.corp.example', ipAddress: '10.0.0.21', groups: ['Patchflow ring1'] },
      // A name WSUS holds but no hostname can be: reported, never stored.
      { fullDomainName: 'bad host.corp.example', ipAddress: '10.0.0.99' },
    ]);
    // Later: wweb01 got a new address and joined the ring, wweb02 left WSUS.
    after = await wsusWith([
      { fullDomainName: 'wweb01.corp.example', ipAddress: '10.0.0.111', groups: ['Patchflow ring1'] },
      { fullDomainName: 'wdb01.corp.example', ipAddress: '10.0.0.21', groups: ['Patchflow ring1'] },
    ]);
    endpoint = await switchableEndpoint(new URL(before.winrm.url));
    const config = path.join(process.env['TMPDIR'] ?? '/tmp', `patchflow-inventory-sync-${process.pid}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        connectors: { ansible: {}, wsus: { endpoint: endpoint.url, ...credentials, requestTimeout: '5s' } },
        inventory: { schedule: { wsus: '2h', ansible: 'off' } },
      }),
    );
    stack = await startStack({ env: { PATCHFLOW_CONFIG: config } });
    cliEnv = { PATH: process.env['PATH'], PATCHFLOW_URL: stack.url, PATCHFLOW_TOKEN: await stack.tokenFor('admin') };
  });
  afterAll(async () => {
    if (stack) {
      const { taskQueue } = stack.ctx.settings.temporal;
      await stack.ctx.temporal.schedule
        .getHandle(inventoryScheduleId(taskQueue, 'wsus'))
        .delete()
        .catch(() => undefined);
      await stack.stop();
    }
    endpoint?.close();
    await before?.close();
    await after?.close();
  });

  it('a start creates the Schedule at the configured interval, and none for a connector switched off', async () => {
    expect(await ensureInventorySchedules(stack.ctx)).toEqual({ wsus: '2h' });
    // Idempotent: a second start updates, not fails.
    expect(await ensureInventorySchedules(stack.ctx)).toEqual({ wsus: '2h' });
    const { taskQueue } = stack.ctx.settings.temporal;
    const described = await stack.ctx.temporal.schedule.getHandle(inventoryScheduleId(taskQueue, 'wsus')).describe();
    expect(described.spec.intervals?.[0]?.every).toBe(2 * 3_600_000);
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'inventorySyncWorkflow' });
    const { body } = await api<{ connectors: InventoryConnectorStatus[] }>(stack, 'GET', '/api/inventory');
    const wsus = body.connectors.find((c) => c.connector === 'wsus');
    expect(wsus).toMatchObject({ lastSync: null, schedule: { every: '2h', paused: false } });
    expect(Date.parse(wsus!.schedule!.nextRunAt!)).toBeGreaterThan(Date.now());
    expect(body.connectors.find((c) => c.connector === 'ansible')?.schedule).toBeNull();
  });

  it('the first sync (REST) creates the hosts and reports the bad one by host and field', async () => {
    const res = await api<InventorySyncReport>(stack, 'POST', '/api/inventory/sync', { connector: 'wsus' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ connector: 'wsus', listed: 4, changed: [], vanished: [] });
    expect(res.body.new.sort()).toEqual(['wdb01', 'wweb01', 'wweb02']);
    expect(res.body.rejected).toEqual([
      { hostname: 'bad host', field: 'hostname', message: 'letters, digits, dots, dashes and underscores' },
    ]);
    const web01 = await getAsset(stack.ctx.db, 'wweb01');
    expect(web01).toMatchObject({
      source: 'wsus',
      fqdn: 'wweb01.corp.example',
      ips: ['10.0.0.11'],
      platform: 'windows',
    });
    expect(await getAsset(stack.ctx.db, 'wdb01')).toMatchObject({ patchGroup: 'Patchflow ring1' });
    await expect(getAsset(stack.ctx.db, 'bad host')).rejects.toThrow(/no asset/);
  });

  it('the second sync (CLI) reports changed fields and vanished hosts, and keeps what a scan wrote', async () => {
    // A scan read the OS of wweb01 and a person set its owner: the inventory knows neither.
    const web01 = await getAsset(stack.ctx.db, 'wweb01');
    await updateScannedAssets(stack.ctx.db, [{ assetId: web01.id, os: scannedOs }], new Date().toISOString());
    await stack.ctx.db('assets').where({ id: web01.id }).update({ owner: 'web team', criticality: 1 });
    const productBefore = (await getAsset(stack.ctx.db, 'wweb01')).product;
    expect(productBefore).toBe('windows server 2022');
    endpoint.switchTo(new URL(after.winrm.url));

    const run = await runCli(cliEnv, ['inventory', 'sync', 'wsus', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as InventorySyncReport;
    expect(report).toMatchObject({ connector: 'wsus', listed: 2, new: [], unchanged: 0, rejected: [] });
    expect(report.changed).toEqual([
      { hostname: 'wweb01', fields: ['ips', 'patchGroup', 'tags', 'vars'] },
      // The second WSUS server gave it a computer id of its own (vars.wsusComputerId); nothing else moved.
      { hostname: 'wdb01', fields: ['vars'] },
    ]);
    expect(report.vanished).toEqual(['wweb02']);

    const synced = await getAsset(stack.ctx.db, 'wweb01');
    expect(synced).toMatchObject({
      ips: ['10.0.0.111'],
      patchGroup: 'Patchflow ring1',
      osName: scannedOs,
      product: productBefore,
      owner: 'web team',
      criticality: 1,
    });
    // Marked, not deleted: a cycle may have it as a target.
    const gone = await getAsset(stack.ctx.db, 'wweb02');
    expect(gone.vars['vanishedAt']).toBe(report.syncedAt);

    const human = await runCli(cliEnv, ['inventory', 'sync', 'wsus']);
    expect(human.status, human.stderr).toBe(0);
    // Nothing new since: a vanished host is reported once, when it goes.
    expect(human.stdout).toMatch(/^wsus: 2 listed, 0 new, 0 changed, 2 unchanged, 0 vanished, 0 rejected$/m);

    const audit = await stack.ctx
      .db('audit_events')
      .where({ action: 'inventory.synced', subject_id: 'wsus' })
      .orderBy('seq');
    expect(audit.map((a: { actor: string }) => a.actor)).toEqual(['admin', 'admin', 'admin']);
    expect((audit[1] as { data: unknown }).data).toMatchObject({ listed: 2, changed: 2, vanished: ['wweb02'] });
    const { body } = await api<{ connectors: InventoryConnectorStatus[] }>(stack, 'GET', '/api/inventory');
    expect(body.connectors.find((c) => c.connector === 'wsus')?.lastSync).toMatchObject({
      actor: 'admin',
      data: { listed: 2, vanished: [] },
    });
  });

  it('a host listed again loses its vanished mark', async () => {
    endpoint.switchTo(new URL(before.winrm.url));
    const res = await api<InventorySyncReport>(stack, 'POST', '/api/inventory/sync', { connector: 'wsus' });
    expect(res.status).toBe(200);
    expect(res.body.changed).toContainEqual({ hostname: 'wweb02', fields: ['vars'] });
    expect((await getAsset(stack.ctx.db, 'wweb02')).vars['vanishedAt']).toBeUndefined();
  });

  it('a run of the Schedule syncs on the worker, audited as the schedule', async () => {
    const handle = stack.ctx.temporal.schedule.getHandle(
      inventoryScheduleId(stack.ctx.settings.temporal.taskQueue, 'wsus'),
    );
    await handle.trigger();
    const deadline = Date.now() + 30_000;
    let run = (await handle.describe()).info.recentActions.at(-1);
    while (!run && Date.now() < deadline) {
      await sleep(100);
      run = (await handle.describe()).info.recentActions.at(-1);
    }
    expect(run, 'the schedule started no run within 30s').toBeDefined();
    const outcome = await stack.ctx.temporal.workflow
      .getHandle<() => Promise<InventorySyncOutcome>>(run!.action.workflow.workflowId)
      .result();
    expect(outcome).toMatchObject({ connector: 'wsus', listed: 4, new: [], changed: [], vanished: [] });
    const last = await stack.ctx
      .db('audit_events')
      .where({ action: 'inventory.synced', subject_id: 'wsus' })
      .orderBy('seq', 'desc')
      .first('actor');
    expect(last).toEqual({ actor: 'schedule' });
  });

  it('an unknown connector is a 404 naming the configured ones, by REST and by the CLI', async () => {
    const res = await api<{ error: { message: string } }>(stack, 'POST', '/api/inventory/sync', { connector: 'nope' });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toBe(
      'no inventory connector "nope" is configured; configured inventory connectors: ansible, wsus',
    );
    const run = await runCli(cliEnv, ['inventory', 'sync', 'nope']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('no inventory connector "nope" is configured');
    const bad = await api<{ error: { details: { path: string[] }[] } }>(stack, 'POST', '/api/inventory/sync', {
      connector: 'No Such',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0]?.path).toEqual(['connector']);
  });

  it('a sync of all connectors reports each', async () => {
    const run = await runCli(cliEnv, ['inventory', 'sync']);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ansible: \d+ listed/m);
    expect(run.stdout).toMatch(/^wsus: 4 listed, 0 new, 0 changed, 3 unchanged, 0 vanished, 1 rejected$/m);
    expect(run.stdout).toContain('rejected  bad host: hostname: letters, digits, dots, dashes and underscores');
  });
});
