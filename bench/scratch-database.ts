import pg from 'pg';
import { migrateToLatest, openDatabase, type Db } from '../db/knex.ts';

/** Where benchmarks create their scratch databases; BENCH_DATABASE_URL overrides. */
export const benchAdminUrl = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs `fn` against a freshly created and migrated database that is dropped afterwards, whatever happens. */
export async function withScratchDatabase(label: string, fn: (db: Db, url: string) => Promise<void>): Promise<void> {
  const name = `patchflow_bench_${label}_${process.pid}`;
  const admin = new pg.Client({ connectionString: benchAdminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${name}`);
  await admin.query(`create database ${name}`);
  const url = new URL(benchAdminUrl);
  url.pathname = `/${name}`;
  const db = openDatabase({ url: url.toString(), dataDir: '' });
  try {
    await migrateToLatest(db);
    await fn(db, url.toString());
  } finally {
    await db.destroy();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}
