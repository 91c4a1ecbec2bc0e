import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
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
  return knexFactory({ client: ClientPgLite, dialect: 'postgres', connection: { filename: dir } } as Knex.Config);
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
