import type { Knex } from 'knex';
import { z } from 'zod';
import { NotFoundError } from '../../kernel/errors.ts';
import { parseAssetQuery } from './asset-query.ts';
import { countAssets } from './assets.ts';

export const groupNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dots, dashes and underscores');

/** A dynamic group: membership is whatever the query matches when the group is read. */
export const groupInputSchema = z
  .object({
    query: z.string().trim().min(1, 'a query such as tier<=2 and exposure=internet').max(2000),
    description: z.string().trim().max(500).optional(),
  })
  .strict();
export type GroupInput = z.output<typeof groupInputSchema>;

export interface AssetGroup {
  name: string;
  query: string;
  description: string | null;
  /** Assets matching the query now. */
  members: number;
  updatedAt: string;
}

interface GroupRow {
  name: string;
  query: string;
  description: string | null;
  updated_at: Date | string;
}

async function withMembers(db: Knex, row: GroupRow): Promise<AssetGroup> {
  return {
    name: row.name,
    query: row.query,
    description: row.description,
    members: await countAssets(db, parseAssetQuery(row.query)),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** Creates or replaces a group; the query is parsed first so that a broken group is never stored. */
export async function saveGroup(db: Knex, name: string, input: GroupInput): Promise<AssetGroup> {
  parseAssetQuery(input.query);
  const now = new Date().toISOString();
  const [row] = (await db('asset_groups')
    .insert({ name, query: input.query, description: input.description ?? null, updated_at: now })
    .onConflict('name')
    .merge(['query', 'description', 'updated_at'])
    .returning('*')) as GroupRow[];
  return withMembers(db, row!);
}

export async function listGroups(db: Knex): Promise<AssetGroup[]> {
  const rows = (await db('asset_groups').select('*').orderBy('name')) as GroupRow[];
  return Promise.all(rows.map((r) => withMembers(db, r)));
}

export async function getGroup(db: Knex, name: string): Promise<AssetGroup> {
  const row = (await db('asset_groups').where({ name }).first()) as GroupRow | undefined;
  if (!row) throw new NotFoundError(`no asset group "${name}"`);
  return withMembers(db, row);
}

export async function deleteGroup(db: Knex, name: string): Promise<void> {
  const deleted = await db('asset_groups').where({ name }).delete();
  if (deleted === 0) throw new NotFoundError(`no asset group "${name}"`);
}
