import type { Knex } from 'knex';
import type { FeedSyncState } from '../../integrations/contract/index.ts';

interface FeedStateRow {
  feed: string;
  etag: string | null;
  last_modified: string | null;
  cursor: string | null;
  synced_at: Date | string | null;
}

export async function getFeedState(db: Knex, feed: string): Promise<FeedSyncState & { syncedAt?: string | undefined }> {
  const row = (await db('feed_state').where({ feed }).first()) as FeedStateRow | undefined;
  if (!row) return {};
  return {
    etag: row.etag ?? undefined,
    lastModified: row.last_modified ?? undefined,
    cursor: row.cursor ?? undefined,
    syncedAt: row.synced_at === null ? undefined : new Date(row.synced_at).toISOString(),
  };
}

export async function saveFeedState(db: Knex, feed: string, state: FeedSyncState): Promise<void> {
  await db('feed_state')
    .insert({
      feed,
      etag: state.etag ?? null,
      last_modified: state.lastModified ?? null,
      cursor: state.cursor ?? null,
      synced_at: db.fn.now(),
    })
    .onConflict('feed')
    .merge();
}
