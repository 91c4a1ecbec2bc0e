import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { resolveTemporalCli } from '../../runtime/temporal-cli.ts';
import { workflowsPath } from '../../runtime/worker.ts';
import { migrateToLatest, openDatabase } from '../../db/knex.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    pgAdminUrl: string;
    templateDatabase: string;
    workflowBundlePath: string;
  }
}

/**
 * One real Temporal dev server and one migrated template database per test run. Each test file
 * clones the template (fast) and uses its own task queues, so files run in parallel safely.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const adminUrl = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const template = `patchflow_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${template}`);
  await admin.query(`create database ${template}`);
  const templateDb = openDatabase({ url: withDatabase(adminUrl, template), dataDir: '' });
  await migrateToLatest(templateDb);
  await templateDb.destroy();

  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: resolveTemporalCli({ build: false }) },
      ip: '127.0.0.1',
      ui: false,
      log: { format: 'pretty', level: 'warn' },
    },
  });
  project.provide('temporalAddress', env.address);
  project.provide('pgAdminUrl', adminUrl);
  project.provide('templateDatabase', template);
  // Bundled once per run: every test worker loads the same code instead of running webpack again.
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
  });
  const bundlePath = path.join(mkdtempSync(path.join(os.tmpdir(), 'patchflow-bundle-')), 'workflows.js');
  writeFileSync(bundlePath, code);
  project.provide('workflowBundlePath', bundlePath);

  return async () => {
    await env.teardown();
    // This run's databases, and those of runs that died without cleaning up; never those of a
    // run still going (several test runs may share the server).
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname ~ '^patchflow_(t|tpl)_[0-9]+'`,
    );
    for (const r of rows) {
      const pid = Number(/^patchflow_(?:t|tpl)_(\d+)/.exec(r.datname)![1]);
      if (pid === process.pid || !isAlive(pid)) await admin.query(`drop database if exists ${r.datname} with (force)`);
    }
    await admin.end();
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
