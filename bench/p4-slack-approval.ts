import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AppContext } from '../app/context.ts';
import { listen } from '../runtime/http-server.ts';
import { startCycle } from '../app/cycles.ts';
import { createToken, principalOfUser } from '../security/index.ts';
import { DEMO_PATCH } from '../demo/seed.ts';
import { connectContext } from '../runtime/context.ts';
import { createPatchflowWorker } from '../runtime/worker.ts';
import { loadSettings } from '../runtime/settings.ts';
import { resolveTemporalCli } from '../runtime/temporal-cli.ts';
import type { Db } from '../db/knex.ts';
import { upsertUser } from '../db/repositories/users.ts';
import { createLogger } from '../kernel/logger.ts';
import { SlackApiEmulator } from '../test/emulators/slack.ts';
import { SlackSender } from '../test/helpers/slack-client.ts';
import type { Benchmark } from './run.ts';
import { approvalWorkflowId } from '../workflows/ids.ts';
import { withScratchDatabase } from './scratch-database.ts';

/**
 * P4: 50 signed Slack approval clicks at once on loopback, each on its own pending change, timed
 * from the click to Slack's ack and to the `chat.update` that shows the decision on the card (the
 * Update accepted and recorded, then the card refreshed by the gate's own activity). Baseline: the
 * same approvals over REST, timed to the response, which returns once the decision is recorded.
 * Goal: p99 ≤ 250 ms.
 */

/** 50 by default; `P4_CLICKS=10 npm run bench -- p4-slack-approval` shows the latency floor below saturation. */
const CLICKS = Number(process.env['P4_CLICKS'] ?? 50);
const SLACK = { botToken: 'xoxb-bench-p4', signingSecret: 'bench-p4-signing-secret', channel: 'C0BENCHP4' };
const ALICE = { id: 'alice', slackUserId: 'UALICEBENCH' };

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const describe = (label: string, ms: number[]) =>
  `${label}: p50 ${percentile(ms, 50).toFixed(0)} ms, p99 ${percentile(ms, 99).toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms`;

async function seed(db: Db): Promise<void> {
  await db('assets').insert({ hostname: 'sim-p4-01', criticality: 3, platform: 'linux', source: 'bench' });
  await db('patches').insert({
    id: DEMO_PATCH.id,
    title: DEMO_PATCH.title,
    vendor_ref: DEMO_PATCH.vendorRef,
    platform: 'linux',
    target_version: DEMO_PATCH.targetVersion,
  });
  await upsertUser(db, { id: 'carol', roles: ['coordinator'] });
  await upsertUser(db, { id: ALICE.id, roles: ['approver'], slackUserId: ALICE.slackUserId });
}

/**
 * Starts `count` cycles and waits until each has its approval card in the channel. Their window
 * opens in an hour, so approved cycles wait instead of deploying: the bench times the approval
 * path, not rollouts running beside it.
 */
async function pendingChanges(ctx: AppContext, slack: SlackApiEmulator, count: number): Promise<string[]> {
  const ids: string[] = [];
  const window = {
    start: new Date(Date.now() + 3_600_000).toISOString(),
    end: new Date(Date.now() + 7_200_000).toISOString(),
  };
  for (let i = 0; i < count; i++)
    ids.push(
      (
        await startCycle(ctx, await principalOfUser(ctx.db, 'carol'), {
          patches: [DEMO_PATCH.id],
          hosts: ['sim-p4-01'],
          window,
        })
      ).cycle.id,
    );
  while (
    !ids.every((id) =>
      slack.callsOf('chat.postMessage').some((c) => JSON.stringify(c.args['blocks'] ?? '').includes(id)),
    )
  )
    await sleep(50);
  return ids;
}

/**
 * When each clicked change's card was first updated to show the decision: the first `chat.update`
 * after its click whose blocks name the change and the Slack approval. Each recorded call is read
 * once (rather than every call again on every poll), so that watching takes next to no CPU from
 * the process under test, which shares it.
 */
async function decisionsShown(
  slack: SlackApiEmulator,
  clickedAt: ReadonlyMap<string, number>,
): Promise<Map<string, number>> {
  const shownAt = new Map<string, number>();
  const waiting = new Set(clickedAt.keys());
  for (let read = 0; waiting.size > 0; await sleep(20)) {
    for (; read < slack.calls.length; read++) {
      const call = slack.calls[read]!;
      if (call.method !== 'chat.update') continue;
      const blocks = JSON.stringify(call.args['blocks']);
      if (!blocks.includes('approved via slack')) continue;
      for (const id of waiting) {
        if (call.at >= clickedAt.get(id)! && blocks.includes(id)) {
          shownAt.set(id, call.at);
          waiting.delete(id);
        }
      }
    }
  }
  return shownAt;
}

export const p4SlackApproval: Benchmark = {
  name: 'p4-slack-approval',
  summary: `${CLICKS} concurrent signed Slack approval clicks → Update accepted → chat.update, vs the same approvals over REST`,
  async run() {
    const server = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: resolveTemporalCli({ build: false }) },
        ip: '127.0.0.1',
        ui: false,
        log: { format: 'pretty', level: 'warn' },
      },
    });
    const slack = await new SlackApiEmulator({ botToken: SLACK.botToken }).start();
    try {
      await withScratchDatabase('p4', async (db, url) => {
        await seed(db);
        const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-bench-p4-'));
        const config = path.join(dataDir, 'config.json');
        writeFileSync(
          config,
          JSON.stringify({
            connectors: {
              simulator: {},
              slack: {
                botToken: SLACK.botToken,
                signingSecret: SLACK.signingSecret,
                channel: SLACK.channel,
                apiUrl: slack.apiUrl,
              },
            },
          }),
        );
        const settings = loadSettings({
          PATCHFLOW_CONFIG: config,
          DATABASE_URL: url,
          PATCHFLOW_DATA_DIR: dataDir,
          PATCHFLOW_DEPLOYER: 'simulator',
          TEMPORAL_ADDRESS: server.address,
          TEMPORAL_TASK_QUEUE: 'bench-p4',
        });
        const logger = createLogger({}, 'error');
        const ctx = await connectContext(settings, db, logger);
        const worker = await createPatchflowWorker(ctx);
        const http = await listen(ctx, '127.0.0.1', 0);
        const sender = new SlackSender(`${http.url}/slack/events`, SLACK.signingSecret, slack, {
          teamId: 'T0BENCH',
          channelId: SLACK.channel,
        });
        await Promise.all([
          worker.run(),
          (async () => {
            try {
              const viaRest = await pendingChanges(ctx, slack, CLICKS);
              const { token } = await createToken(db, { userId: ALICE.id }, { name: 'bench-p4', scopes: ['approve'] });
              const restMs = await Promise.all(
                viaRest.map(async (id) => {
                  const started = performance.now();
                  const res = await fetch(`${http.url}/api/cycles/${id}/approve`, {
                    method: 'POST',
                    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
                    body: '{}',
                  });
                  if (!res.ok) throw new Error(`REST approval of ${id} failed: ${res.status} ${await res.text()}`);
                  return performance.now() - started;
                }),
              );

              const viaSlack = await pendingChanges(ctx, slack, CLICKS);
              const clickedAt = new Map<string, number>();
              const cpuBefore = process.cpuUsage();
              const ackMs = await Promise.all(
                viaSlack.map(async (id) => {
                  clickedAt.set(id, Date.now());
                  const started = performance.now();
                  const res = await sender.click(ALICE.slackUserId, 'patchflow_approve', id);
                  if (res.status !== 200) throw new Error(`Slack click on ${id} answered ${res.status}`);
                  return performance.now() - started;
                }),
              );
              const shownAt = await decisionsShown(slack, clickedAt);
              const slackMs = viaSlack.map((id) => shownAt.get(id)! - clickedAt.get(id)!);
              const cpu = process.cpuUsage(cpuBefore);
              // Let the gates' own card refreshes finish before the client closes.
              await Promise.all(viaSlack.map((id) => ctx.temporal.workflow.getHandle(approvalWorkflowId(id)).result()));

              console.log(describe(`REST approve → response (decision recorded), ${CLICKS} at once`, restMs));
              console.log(describe(`Slack click → ack`, ackMs));
              console.log(describe(`Slack click → chat.update showing the decision`, slackMs));
              // Server, worker, Slack emulator and clicker share this process (and the machine's cores with
              // Temporal and PostgreSQL): the CPU each click costs here bounds how fast a burst can clear.
              console.log(
                `CPU of this process per Slack click: ${((cpu.user + cpu.system) / 1000 / CLICKS).toFixed(1)} ms (${os.cpus().length} cores)`,
              );
              console.log(
                `ratio Slack/REST at p99: ${(percentile(slackMs, 99) / percentile(restMs, 99)).toFixed(2)}×; goal p99 ≤ 250 ms`,
              );
            } finally {
              worker.shutdown();
            }
          })(),
        ]);
        await http.close();
        await ctx.temporal.connection.close();
      });
    } finally {
      await slack.close();
      await server.teardown();
    }
  },
};
