import type { FeedSyncState } from '../../contract/index.ts';
import type { Logger } from '../../../kernel/logger.ts';
import { syncWholeDocument, type FeedSyncResult } from '../feed.ts';
import type { KevConfig } from './config.ts';
import { parseKevCatalog } from './parse.ts';

/** The catalogue is one document; CISA answers 304 while it is unchanged. */
export function syncKev(
  config: KevConfig,
  state: FeedSyncState,
  logger: Logger,
  signal?: AbortSignal,
): Promise<FeedSyncResult> {
  return syncWholeDocument(config.url, state, { retry: config.retry, logger, signal }, (body) => {
    const { catalogVersion, batch } = parseKevCatalog(body);
    return { version: catalogVersion, batch };
  });
}
