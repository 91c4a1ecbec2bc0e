import os from 'node:os';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { syncFeed, type FeedRunResult } from '../app/feeds.ts';
import { RateLimitedError } from '../integrations/feeds/http.ts';
import type { ActivityDeps } from './index.ts';

/**
 * Feed syncs as activities: the sync of app/feeds.ts, cancelled through the activity's
 * cancellation signal (a cancelled download ends as Temporal's CancelledFailure, which the worker
 * reports as a cancellation). A source that asked for a longer wait than the sync spends in
 * place fails the attempt with that wait as `nextRetryDelay`, so that Temporal's retry comes
 * when the source said, not at its own back-off.
 */
export function createFeedActivities(deps: ActivityDeps) {
  return {
    async syncFeedKind(input: { kind: string }): Promise<FeedRunResult> {
      // A feed keeps no files (defineFeed hands its sync only the logger); ConnectorDeps asks for a folder all the same.
      const env = { db: deps.db, registry: deps.registry, deps: { logger: deps.logger, workDir: os.tmpdir() } };
      try {
        return await syncFeed(env, input.kind, Context.current().cancellationSignal);
      } catch (err) {
        if (!(err instanceof RateLimitedError) || err.retryAfterMs <= 0) throw err;
        throw ApplicationFailure.create({
          type: err.name,
          message: err.message,
          nextRetryDelay: err.retryAfterMs,
          cause: err,
        });
      }
    },
  };
}
