/**
 * What the history recorders share (record-histories.ts, record-path-histories.ts): a fresh dev
 * server and database to run real cycles on, and saving every workflow of a cycle as JSON for the
 * replay tests.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { migrateToLatest, openDatabase, type Db } from '../../db/knex.ts';
import { resolveTemporalCli } from '../../runtime/temporal-cli.ts';
import { withDatabase } from './global-setup.ts';

export interface RecordingStack {
  /** The dev server's address. */
  address: string;
  db: Db;
  cli: string;
}

/** Runs `record` on a fresh dev server and a fresh, migrated database, both gone afterwards. */
export async function onScratchStack(name: string, record: (stack: RecordingStack) => Promise<void>): Promise<void> {
  const adminUrl = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `patchflow_${name}_${process.pid}`;
  const cli = resolveTemporalCli({ build: false });
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli }, ip: '127.0.0.1', ui: false },
  });
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const db = openDatabase({ url: withDatabase(adminUrl, dbName), dataDir: '' });
  try {
    await migrateToLatest(db);
    await record({ address: env.address, db, cli });
  } finally {
    await db.destroy();
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    await env.teardown();
  }
}

/**
 * Saves the history of every workflow of each cycle (the cycle and its phase children), as the
 * CLI writes it (proto3 JSON, which historyFromJSON reads), under the name `fileName` gives.
 */
export async function saveCycleHistories(
  stack: RecordingStack,
  client: Client,
  cycles: Record<string, string>,
  outDir: string,
  fileName: (scenario: string, workflow: { type: string; idTail: string }) => string,
): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  for (const [scenario, id] of Object.entries(cycles)) {
    const prefix = `patch-cycle-${id}`;
    for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "${prefix}"` })) {
      const history: unknown = JSON.parse(
        execFileSync(
          stack.cli,
          ['workflow', 'show', '--address', stack.address, '--workflow-id', wf.workflowId, '--output', 'json'],
          { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
        ),
      );
      const idTail = wf.workflowId.slice(prefix.length).replace(/^-/, '') || 'cycle';
      const file = path.join(outDir, fileName(scenario, { type: wf.type, idTail }));
      writeFileSync(file, JSON.stringify({ workflowId: wf.workflowId, workflowType: wf.type, history }, null, 1));
      console.log(`recorded ${file}`);
    }
  }
}
