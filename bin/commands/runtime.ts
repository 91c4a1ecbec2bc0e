import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { chatStatusLine } from '../../app/publish/chat.ts';
import { startDevServer, type DevServer } from '../../runtime/dev-server.ts';
import { listen, type RunningHttpServer } from '../../runtime/http-server.ts';
import { buildContext, openSettingsDatabase } from '../../runtime/context.ts';
import { ensureFeedSchedules } from '../../runtime/feed-schedules.ts';
import { ensureInventorySchedules } from '../../app/inventory-sync.ts';
import { createPatchflowWorker, workflowsPath, type PatchflowWorkers } from '../../runtime/worker.ts';
import { loadSettings, type Settings } from '../../runtime/settings.ts';
import { resolveTemporalCli } from '../../runtime/temporal-cli.ts';
import { describeDatabase, migrateToLatest } from '../../db/knex.ts';
import { createLogger } from '../../kernel/logger.ts';
import { findUser, upsertUser } from '../../db/repositories/users.ts';
import { demoUsers } from '../../demo/seed.ts';
import { ensureLocalTokens, localTokensPath } from '../../security/index.ts';
import type { AppContext } from '../../app/context.ts';
import type { CliCommand } from './types.ts';

/**
 * Keeps a long-running command alive until Ctrl-C, then shuts its parts down in reverse order
 * of starting. One part failing to stop does not keep the others (the dev server) running.
 */
async function runUntilSignal(stops: (() => Promise<void>)[]): Promise<number> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write('stopping Patchflow…\n');
  let code = 0;
  for (const stop of stops.reverse()) {
    try {
      await stop();
    } catch (err) {
      process.stderr.write(`while stopping: ${(err as Error).message}\n`);
      code = 1;
    }
  }
  return code;
}

/**
 * Local mode's credentials, while no identity provider is configured: the local admin and the demo
 * people (created in the embedded database, where the demo is the point) get tokens in the data
 * directory, which the CLI on this machine uses. Returns the file's path, or undefined when an
 * OpenID provider decides who is an admin (then no token waits on disk).
 */
export async function prepareLocalAccess(ctx: Pick<AppContext, 'db' | 'settings'>): Promise<string | undefined> {
  if (ctx.settings.oidc) return undefined;
  if (!ctx.settings.databaseUrl)
    for (const user of demoUsers) if (!(await findUser(ctx.db, user.id))) await upsertUser(ctx.db, user);
  await ensureLocalTokens(ctx.db, ctx.settings.dataDir, demoUsers);
  return localTokensPath(ctx.settings.dataDir);
}

async function startWorkerAndServer(settings: Settings, parts: { worker: boolean; server: boolean }) {
  const ctx = await buildContext(settings);
  await ensureFeedSchedules(ctx);
  await ensureInventorySchedules(ctx);
  const stops: (() => Promise<void>)[] = [async () => ctx.db.destroy(), async () => ctx.temporal.connection.close()];
  let worker: PatchflowWorkers | undefined;
  let http: RunningHttpServer | undefined;
  if (parts.worker) {
    worker = await createPatchflowWorker(ctx);
    const running = worker.run();
    stops.push(async () => {
      worker!.shutdown();
      await running;
    });
  }
  if (parts.server) {
    const tokens = await prepareLocalAccess(ctx);
    ctx.logger.info(
      tokens
        ? `local API tokens (admin and the demo people) are in ${tokens}, readable by you only`
        : `people sign in through ${settings.oidc!.issuer}; no local tokens are kept`,
    );
    http = await listen(ctx, settings.http.host, settings.http.port, settings.http.public);
    if (http.publicUrl)
      ctx.logger.info(
        `public listener on ${http.publicUrl}: only /slack/* and /teams/*; expose this port, not ${http.url}`,
      );
    stops.push(() => http!.close());
  }
  return { ctx, http, stops };
}

export const runtimeCommands: CliCommand[] = [
  {
    path: ['start'],
    summary:
      'everything in one process: Temporal dev server, worker and HTTP server (embedded database unless DATABASE_URL is set)',
    usage: '',
    async run() {
      const logger = createLogger();
      const base = loadSettings();
      let dev: DevServer | undefined;
      let temporal = base.temporal;
      if (!process.env['TEMPORAL_ADDRESS']) {
        const cli = resolveTemporalCli({ build: true, log: (l) => logger.info(l) });
        dev = await startDevServer({ cli, dataDir: path.resolve(base.dataDir), port: 7233, uiPort: 8233 });
        temporal = { ...temporal, address: dev.address };
      }
      const settings: Settings = { ...base, temporal };
      const { http, stops, ctx } = await startWorkerAndServer(settings, { worker: true, server: true });
      if (dev) stops.unshift(() => dev!.stop());
      ctx.logger.info(chatStatusLine(ctx.registry));
      process.stdout.write(
        [
          '',
          'Patchflow is running.',
          `  Dashboard    ${http!.url}/   (sign in ${settings.oidc ? `through ${settings.oidc.issuer}` : `with a token from ${localTokensPath(settings.dataDir)}`})`,
          `  API          ${http!.url}/api   (health: ${http!.url}/healthz)`,
          `  Temporal UI  ${dev ? dev.uiUrl : `(remote cluster ${temporal.address})`}`,
          `  Database     ${describeDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir })}`,
          '',
          'Try the demo cycle in another shell:',
          '  npx patchflow cycle start --demo            # carol (coordinator) requests it; staging is tested first',
          '  npx patchflow cycle approve <id> --as alice # alice is a CAB approver; carol cannot approve her own change',
          '  npx patchflow cycle status <id> --watch     # rings deploy least critical first, then verification',
          '',
          'Ctrl-C stops everything; state is kept under .patchflow/.',
          '',
        ].join('\n'),
      );
      return runUntilSignal(stops);
    },
  },
  {
    path: ['worker'],
    summary: 'run a Temporal worker (workflows and activities) against TEMPORAL_ADDRESS',
    usage: '',
    async run() {
      const { stops } = await startWorkerAndServer(loadSettings(), { worker: true, server: false });
      return runUntilSignal(stops);
    },
  },
  {
    path: ['server'],
    summary: 'run the HTTP server (REST API) against TEMPORAL_ADDRESS',
    usage: '',
    async run() {
      const { http, stops } = await startWorkerAndServer(loadSettings(), { worker: false, server: true });
      process.stdout.write(`Patchflow API listening on ${http!.url}\n`);
      return runUntilSignal(stops);
    },
  },
  {
    path: ['bundle-workflows'],
    summary: 'write the workflow bundle for production workers (then set PATCHFLOW_WORKFLOW_BUNDLE to its path)',
    usage: '[--out <file>]',
    options: { out: { type: 'string' } },
    async run({ values }) {
      const out = path.resolve(
        typeof values['out'] === 'string' ? values['out'] : path.join('.patchflow', 'workflow-bundle.js'),
      );
      const { code } = await bundleWorkflowCode({ workflowsPath });
      mkdirSync(path.dirname(out), { recursive: true });
      writeFileSync(out, code);
      process.stdout.write(
        `workflow bundle written to ${out} (${Math.round(code.length / 1024)} KiB)\nstart workers with PATCHFLOW_WORKFLOW_BUNDLE=${out}\n`,
      );
      return 0;
    },
  },
  {
    path: ['db', 'migrate'],
    summary: 'apply database migrations',
    usage: '',
    async run() {
      const settings = loadSettings();
      const db = openSettingsDatabase(settings);
      try {
        const applied = await migrateToLatest(db);
        process.stdout.write(
          `${describeDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir })}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}\n`,
        );
      } finally {
        await db.destroy();
      }
      return 0;
    },
  },
];
