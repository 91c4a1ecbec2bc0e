import type { FeedSyncState } from '../../contract/index.ts';
import type { Logger } from '../../../kernel/logger.ts';
import { syncWholeDocument, type FeedSyncResult } from '../feed.ts';
import type { EpssConfig } from './config.ts';
import { parseEpss } from './parse.ts';

/** EPSS publishes one scores file a day; its score date is the version. */
export function syncEpss(
  config: EpssConfig,
  state: FeedSyncState,
  logger: Logger,
  signal?: AbortSignal,
): Promise<FeedSyncResult> {
  return syncWholeDocument(config.url, state, { retry: config.retry, logger, signal }, (body) => {
    const { scoreDate, batch } = parseEpss(body);
    return { version: scoreDate, batch };
  });
}
