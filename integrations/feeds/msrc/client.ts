import { z } from 'zod';
import type { FeedSyncState } from '../../contract/index.ts';
import type { Logger } from '../../../kernel/logger.ts';
import { parseInput } from '../../../kernel/validate.ts';
import { syncDocumentIndex, type DocumentEntry, type FeedSyncResult } from '../feed.ts';
import { feedText, parseJsonText, utcTimestamp } from '../parse.ts';
import type { MsrcConfig } from './config.ts';
import { parseCvrf } from './parse.ts';

const updatesSchema = z.object({
  value: z.array(z.object({ ID: z.string().min(1), CurrentReleaseDate: z.string(), CvrfUrl: z.url() })),
});

function parseUpdates(body: Buffer): DocumentEntry[] {
  const updates = parseInput(
    updatesSchema,
    parseJsonText(feedText(body, 'MSRC updates list'), 'MSRC updates list'),
    'MSRC updates list',
  );
  return updates.value.map((u) => ({
    url: u.CvrfUrl,
    changedAt: utcTimestamp(u.CurrentReleaseDate) ?? u.CurrentReleaseDate,
  }));
}

/** The updates list names every monthly CVRF document and when it last changed; fetch the changed ones as XML. */
export function syncMsrc(
  config: MsrcConfig,
  state: FeedSyncState,
  logger: Logger,
  signal?: AbortSignal,
): Promise<FeedSyncResult> {
  return syncDocumentIndex(
    `${config.url}/updates`,
    state,
    {
      retry: config.retry,
      logger,
      signal,
      maxDocuments: config.maxDocuments,
      documentHeaders: { accept: 'application/xml' },
    },
    parseUpdates,
    (body) => parseCvrf(body).batch,
  );
}
