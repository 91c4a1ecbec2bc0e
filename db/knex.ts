import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import lockfile from 'proper-lockfile';
import { z } from 'zod';
import { ConflictError } from '../kernel/errors.ts';
import { migrationSource } from './migrations/index.ts';

// Postgres returns bigint/numeric as strings to avoid precision loss; our counts fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number.parseFloat(v));

export type Db = Knex;

export interface DatabaseTarget {
  /** A postgres:// URL; without one, an embedded PGlite database under `dataDir`. */
  url?: string | undefined;
  dataDir: string;
  poolMax?: number;
}

export function openDatabase(target: DatabaseTarget): Db {
  if (target.url) {
    return knexFactory({ client: 'pg', connection: target.url, pool: { min: 0, max: target.poolMax ?? 10 } });
  }
  const dir = path.resolve(target.dataDir, 'pgdata');
  mkdirSync(dir, { recursive: true });
  const release = claimEmbeddedDatabase(dir);
  const db = knexFactory({ client: ClientPgLite, dialect: 'postgres', connection: { filename: dir } } as Knex.Config);
  // knex.destroy() ends in its client's destroy: the lock goes with the last connection.
  const client = db.client as { destroy: (callback?: unknown) => Promise<void> };
  const destroyClient = client.destroy.bind(client);
  client.destroy = async (callback?: unknown) => {
    try {
      await destroyClient(callback);
    } finally {
      release();
    }
  };
  return db;
}

const ownerSchema = z.object({ pid: z.number(), command: z.string(), since: z.string() });

/**
 * PGlite is one process's database: a second process writing the same folder loses rows without
 * an error. The folder is locked (a lock that goes stale within seconds of its owner dying) and
 * the owner noted beside it, so that a second `patchflow start`, `worker` or `db migrate` is
 * refused at once, saying who holds it.
 */
function claimEmbeddedDatabase(dir: string): () => void {
  const ownerFile = `${dir}.owner.json`;
  let release: () => void;
  try {
    release = lockfile.lockSync(dir, { lockfilePath: `${dir}.lock`, stale: 15_000, update: 5_000, realpath: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    let owner: z.infer<typeof ownerSchema> | undefined;
    try {
      owner = ownerSchema.parse(JSON.parse(readFileSync(ownerFile, 'utf8')));
    } catch {
      owner = undefined;
    }
    throw new ConflictError(
      `the embedded database at ${dir} is in use by another Patchflow process` +
        (owner ? ` (pid ${owner.pid}, \`${owner.command}\`, since ${owner.since})` : '') +
        '. It has one owner: stop that process first, or point every process at one PostgreSQL server with DATABASE_URL.',
    );
  }
  const command = ['patchflow', ...process.argv.slice(2)].join(' ');
  writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() }));
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    rmSync(ownerFile, { force: true });
    release();
  };
}

export async function migrateToLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

/** The embedded database is the default; say which one is in use so nobody is surprised. */
export function describeDatabase(target: DatabaseTarget): string {
  if (!target.url) return `embedded PGlite at ${path.resolve(target.dataDir, 'pgdata')}`;
  const u = new URL(target.url);
  return `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}`;
}
