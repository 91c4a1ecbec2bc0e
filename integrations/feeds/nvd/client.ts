import { z } from 'zod';
import type { FeedSyncState } from '../../contract/index.ts';
import { durationMs } from '../../../kernel/duration.ts';
import type { Logger } from '../../../kernel/logger.ts';
import { parseInput } from '../../../kernel/validate.ts';
import type { FeedBatch } from '../batch.ts';
import type { FeedSyncResult } from '../feed.ts';
import { getBody, pause } from '../http.ts';
import { feedText, parseJsonText } from '../parse.ts';
import type { NvdConfig } from './config.ts';
import { nvdPageBatch, nvdPageSchema } from './parse.ts';

export function apiKeyHeader(config: NvdConfig): Record<string, string> {
  return config.apiKey ? { apiKey: config.apiKey } : {};
}

/** NVD refuses lastModified ranges longer than 120 days. */
export const maxWindowMs = 120 * 86_400_000;

/** NVD wants ISO 8601 with an explicit offset; `Z` is not accepted everywhere. */
function nvdDate(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

/**
 * Where a sync stopped: an instant up to which everything was fetched, or, when the page budget ran
 * out mid-window, that window (its end fixed, so its paging stays stable) and the next startIndex.
 */
const resumeSchema = z.object({
  windowStart: z.iso.datetime({ offset: true }),
  windowEnd: z.iso.datetime({ offset: true }),
  startIndex: z.number().int().min(0),
});
type Resume = z.output<typeof resumeSchema>;

function readCursor(cursor: string | undefined): { from: number | undefined; resume: Resume | undefined } {
  if (!cursor) return { from: undefined, resume: undefined };
  if (!cursor.startsWith('{')) return { from: Date.parse(cursor), resume: undefined };
  const resume = parseInput(resumeSchema, parseJsonText(cursor, 'NVD sync cursor'), 'NVD sync cursor');
  return { from: Date.parse(resume.windowStart), resume };
}

/**
 * Incremental sync: every CVE modified since the cursor, fetched in windows of at most 120 days and
 * pages of `resultsPerPage`. The page budget bounds a sync; when it runs out mid-window the cursor
 * keeps the window and the next startIndex, so the next sync carries on with the very next page:
 * nothing is missed and nothing fetched twice.
 */
export async function syncNvd(
  config: NvdConfig,
  state: FeedSyncState,
  logger: Logger,
  signal?: AbortSignal,
): Promise<FeedSyncResult> {
  const now = Date.now();
  const fetchOpts = {
    retry: config.retry,
    headers: apiKeyHeader(config),
    signal,
    onWait: (note: string) => logger.warn(note),
    // A client over NVD's rate limit is stopped by NIST's firewall with a 403, mostly without
    // Retry-After (https://nvd.nist.gov/developers/start-here#RateLimits and
    // https://nvd.nist.gov/developers/api-workflows); it is backed off from like a 429.
    forbiddenMeansRateLimited: true,
  };
  const { from, resume } = readCursor(state.cursor);
  let windowStart = from ?? now - durationMs(config.initialLookback);
  const batch: FeedBatch = { cves: [], advisories: [] };
  let pages = 0;
  let resumeAt = resume;
  while (windowStart < now) {
    const windowEnd = resumeAt ? Date.parse(resumeAt.windowEnd) : Math.min(windowStart + maxWindowMs, now);
    let startIndex = resumeAt?.startIndex ?? 0;
    resumeAt = undefined;
    let total = Infinity;
    while (startIndex < total) {
      if (pages >= config.maxPages) {
        const stop: Resume = {
          windowStart: new Date(windowStart).toISOString(),
          windowEnd: new Date(windowEnd).toISOString(),
          startIndex,
        };
        logger.warn('NVD page budget spent; the next sync resumes with the next page', {
          ...stop,
          maxPages: config.maxPages,
        });
        return { notModified: false, state: { cursor: JSON.stringify(stop) }, batch };
      }
      if (pages > 0) await pause(durationMs(config.requestInterval), signal);
      const url = new URL(config.url);
      url.searchParams.set('lastModStartDate', nvdDate(windowStart));
      url.searchParams.set('lastModEndDate', nvdDate(windowEnd));
      url.searchParams.set('startIndex', String(startIndex));
      url.searchParams.set('resultsPerPage', String(config.resultsPerPage));
      const { body } = await getBody(url.toString(), fetchOpts);
      const page = parseInput(
        nvdPageSchema,
        parseJsonText(feedText(body, 'NVD API page'), 'NVD API page'),
        'NVD API page',
      );
      pages += 1;
      batch.cves.push(...nvdPageBatch(page).cves);
      total = page.totalResults;
      // An empty page before the stated total would loop forever; NVD's total shrinks when records move windows.
      if (page.vulnerabilities.length === 0) break;
      startIndex += page.vulnerabilities.length;
    }
    windowStart = windowEnd;
  }
  // NVD has no conditional requests; even an empty answer moves the cursor forward.
  return { notModified: false, state: { cursor: new Date(Math.max(windowStart, now)).toISOString() }, batch };
}
