import type { FeedSyncState } from '../../contract/index.ts';
import { InputError, UpstreamError } from '../../../kernel/errors.ts';
import type { Logger } from '../../../kernel/logger.ts';
import { parseInput } from '../../../kernel/validate.ts';
import type { FeedBatch } from '../batch.ts';
import { syncDocumentIndex, type DocumentEntry, type DocumentRefusal, type FeedSyncResult } from '../feed.ts';
import { getBody, type FetchOptions } from '../http.ts';
import { feedText, parseJsonText, utcTimestamp } from '../parse.ts';
import { defaultDirectoryUrl, type CsafConfig } from './config.ts';
import {
  directoryIndex,
  getPublished,
  locateIndexes,
  metadataForDirectory,
  providerMetadataUrl,
  rolieFeedSchema,
  type CsafIndex,
  type CsafSource,
} from './discovery.ts';
import { parseCsaf } from './parse.ts';
import { checkHash, checkSignature, configuredKeys, describeKeys, providerKeys, type TrustedKey } from './trust.ts';

/** changes.csv: `"path","timestamp"` per line, paths relative to the directory (CSAF 2.0 §7.1.13). */
export function parseChangesCsv(body: Buffer, baseUrl: string): DocumentEntry[] {
  const entries: DocumentEntry[] = [];
  feedText(body, 'CSAF changes.csv')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (!line.trim()) return;
      const m = /^"?([^",]+)"?\s*,\s*"?([^",]+)"?$/.exec(line.trim());
      const changedAt = utcTimestamp(m?.[2]);
      if (!m?.[1] || !changedAt)
        throw new InputError(`CSAF changes.csv line ${i + 1} is not "path","timestamp"`, [
          { path: ['line', i + 1], message: 'expected "path","timestamp"' },
        ]);
      entries.push({ url: new URL(m[1], baseUrl).toString(), changedAt });
    });
  return entries;
}

/** Where a document's hash and signature files are, as its ROLIE entry links them. */
export interface DocumentLinks {
  hashes: string[];
  signature?: string | undefined;
}

/** A ROLIE feed (§7.1.15): each entry's document (rel self), its `updated` time, and its hash and signature links. */
export function parseRolieFeed(
  body: Buffer,
  url: string,
): { entries: DocumentEntry[]; links: Map<string, DocumentLinks> } {
  const what = `CSAF ROLIE feed (${url})`;
  const feed = parseInput(rolieFeedSchema, parseJsonText(feedText(body, what), what), what);
  const entries: DocumentEntry[] = [];
  const links = new Map<string, DocumentLinks>();
  for (const e of feed.feed.entry) {
    const self = e.link.find((l) => l.rel === 'self')?.href ?? e.content?.src ?? '';
    entries.push({ url: self, changedAt: utcTimestamp(e.updated) ?? e.updated });
    links.set(self, {
      hashes: e.link.filter((l) => l.rel === 'hash').map((l) => l.href),
      signature: e.link.find((l) => l.rel === 'signature')?.href,
    });
  }
  return { entries, links };
}

/** What testConnection asks: the provider-metadata.json when the config names a provider, else the directory's changes.csv. */
export const probeUrl = (config: CsafConfig) =>
  providerMetadataUrl(config) ?? directoryIndex(config.url ?? defaultDirectoryUrl).url;

const strength = (hashUrl: string) => ['.sha256', '.sha384', '.sha512'].findIndex((ext) => hashUrl.endsWith(ext));

/**
 * The keys a sync verifies signatures with: the configured `openpgpKeys` when there are any, else
 * the provider's own from its provider-metadata.json, each checked against the fingerprint stated
 * there. No usable key while signatures are required fails the sync rather than refusing every
 * document: the fault is the configuration's or the provider's, not one document's, and refusing
 * would move the cursor past documents that a fixed configuration could have stored.
 */
async function loadKeys(
  config: CsafConfig,
  source: CsafSource,
  opts: FetchOptions,
  logger: Logger,
): Promise<TrustedKey[]> {
  if (config.openpgpKeys.length > 0) {
    const keys = await configuredKeys(config.openpgpKeys, opts);
    logger.info('CSAF signatures are checked against the configured keys', { keys: describeKeys(keys) });
    return keys;
  }
  const directory = source.indexes.find((i) => i.kind === 'directory');
  const metadata =
    source.metadata ?? (directory ? await metadataForDirectory(directory.base, opts, logger) : undefined);
  if (!metadata) {
    if (!config.requireSignature) return [];
    throw new InputError(
      `CSAF signatures are required, but no OpenPGP key is known for ${directory?.base ?? 'this provider'}: no provider-metadata.json names it; set openpgpKeys, or providerMetadataUrl instead of url`,
      [{ path: ['openpgpKeys'], message: 'no key to verify signatures with' }],
    );
  }
  const { keys, problems } = await providerKeys(metadata.doc.public_openpgp_keys, opts);
  for (const problem of problems)
    logger.warn('CSAF provider key not trusted', { providerMetadata: metadata.url, problem });
  if (keys.length === 0 && config.requireSignature)
    throw new UpstreamError(
      `CSAF provider ${metadata.url} has no usable OpenPGP key, so no document can be verified and none is stored: ${problems.join('; ') || 'public_openpgp_keys is empty'}`,
      { retryable: false },
    );
  if (keys.length > 0)
    logger.info('CSAF signatures are checked against the provider keys', {
      providerMetadata: metadata.url,
      keys: describeKeys(keys),
    });
  return keys;
}

/**
 * The checks every document passes before it is parsed (§7.3.2): its bytes against the strongest
 * published hash, then its signature against the trusted keys. Only a definite answer refuses a
 * document (a missing file, a wrong hash, a bad signature); a failure worth retrying (5xx, network)
 * fails the sync, which stores nothing and is run again.
 */
function documentChecks(
  config: CsafConfig,
  source: CsafSource,
  links: Map<string, DocumentLinks>,
  opts: FetchOptions,
  logger: Logger,
): (body: Buffer, url: string) => Promise<FeedBatch | DocumentRefusal> {
  let keys: Promise<TrustedKey[]> | undefined;
  const hashRefusal = async (body: Buffer, url: string, listed: string[]): Promise<string | undefined> => {
    const candidates = listed.length
      ? [...listed].sort((a, b) => strength(b) - strength(a))
      : [`${url}.sha512`, `${url}.sha256`];
    for (const hashUrl of candidates) {
      const published = await getPublished(hashUrl, opts);
      if (published) return checkHash(body, published.body.toString('utf8'), hashUrl, url);
    }
    return config.requireHash ? `no hash published (${candidates.join(', ')})` : undefined;
  };
  return async (body, url) => {
    const linked = links.get(url);
    const badHash = await hashRefusal(body, url, linked?.hashes ?? []);
    if (badHash) return { refused: badHash };
    // Loaded once per sync, on the first document that needs them; with no key and no
    // requirement, signatures go unchecked.
    const trusted = await (keys ??= loadKeys(config, source, opts, logger));
    if (trusted.length > 0) {
      const signatureUrl = linked?.signature ?? `${url}.asc`;
      const signature = await getPublished(signatureUrl, opts);
      if (!signature) {
        if (config.requireSignature) return { refused: `no signature published (${signatureUrl})` };
      } else {
        const badSignature = await checkSignature(body, signature.body.toString('utf8'), signatureUrl, trusted);
        if (badSignature) return { refused: badSignature };
      }
    }
    return parseCsaf(body);
  };
}

/**
 * A CSAF provider's documents changed since the cursor, each stored only once its hash and
 * signature check out. A refused document is reported in the result and the cursor moves past it
 * (see syncDocumentIndex for why); the provider's republishing it brings it back.
 */
export async function syncCsaf(
  config: CsafConfig,
  state: FeedSyncState,
  logger: Logger,
  signal?: AbortSignal,
): Promise<FeedSyncResult> {
  const opts: FetchOptions = { retry: config.retry, signal, onWait: (note) => logger.warn(note) };
  const source = await locateIndexes(config, opts);
  const links = new Map<string, DocumentLinks>();
  const readIndex = (index: CsafIndex, body: Buffer): DocumentEntry[] => {
    if (index.kind === 'directory') return parseChangesCsv(body, index.base);
    const feed = parseRolieFeed(body, index.url);
    for (const [url, l] of feed.links) links.set(url, l);
    return feed.entries;
  };
  const [primary, ...others] = source.indexes;
  // provider-metadata.json is validated to name at least one; the guard is for the type.
  if (!primary)
    throw new InputError('the CSAF provider names no ROLIE feed or directory', [
      { path: ['distributions'], message: 'no document list' },
    ]);
  // Several indexes (ROLIE feeds of several TLP labels, several directories) are read whole on
  // every sync and merged under the one cursor: one index's ETag says nothing about the others.
  const extra: DocumentEntry[] = [];
  for (const index of others) extra.push(...readIndex(index, (await getBody(index.url, opts)).body));
  const result = await syncDocumentIndex(
    primary.url,
    others.length ? { cursor: state.cursor } : state,
    { retry: config.retry, logger, signal, maxDocuments: config.maxDocuments },
    (body) => [...readIndex(primary, body), ...extra],
    documentChecks(config, source, links, opts, logger),
  );
  return others.length ? { ...result, state: { cursor: result.state.cursor } } : result;
}
