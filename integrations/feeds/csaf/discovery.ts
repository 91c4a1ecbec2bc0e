import { z } from 'zod';
import { InputError, UpstreamError } from '../../../kernel/errors.ts';
import { parseInput } from '../../../kernel/validate.ts';
import type { Logger } from '../../../kernel/logger.ts';
import { getBody, type FetchedBody, type FetchOptions } from '../http.ts';
import { feedText, parseJsonText, utcTimestamp } from '../parse.ts';
import { defaultDirectoryUrl, tlpLabelSchema, type CsafConfig } from './config.ts';

/**
 * Where a CSAF provider's documents are listed (CSAF 2.0 §7.1, §7.3): a provider-metadata.json
 * found at a URL or at a domain's well-known place names ROLIE feeds (by TLP) or distribution
 * directories, and the provider's OpenPGP keys. ROLIE is preferred where both are offered (§7.3.2).
 */

const fingerprintSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{40,}$/, 'a hexadecimal OpenPGP fingerprint of at least 40 digits');

export const providerMetadataSchema = z.object({
  canonical_url: z.url(),
  metadata_version: z.enum(['2.0', '2.1']),
  role: z.enum(['csaf_publisher', 'csaf_provider', 'csaf_trusted_provider']),
  publisher: z.object({ name: z.string().min(1), namespace: z.url(), category: z.string().min(1) }),
  distributions: z
    .array(
      z
        .object({
          directory_url: z.url().optional(),
          rolie: z
            .object({
              feeds: z
                .array(z.object({ tlp_label: tlpLabelSchema, url: z.url(), summary: z.string().optional() }))
                .min(1),
            })
            .optional(),
        })
        .refine((d) => d.directory_url !== undefined || d.rolie !== undefined, {
          message: 'a distribution names a directory_url or rolie feeds',
        }),
    )
    .min(1, 'the provider names no distribution, so no document can be found'),
  public_openpgp_keys: z.array(z.object({ url: z.url(), fingerprint: fingerprintSchema.optional() })).default([]),
});
export type ProviderMetadata = z.output<typeof providerMetadataSchema>;
export type ProviderKey = ProviderMetadata['public_openpgp_keys'][number];

const timestampSchema = z
  .string()
  .refine((v) => utcTimestamp(v) !== undefined, 'a timestamp such as 2025-12-12T16:20:00Z');

/** A ROLIE feed as CSAF uses it (RFC 8322 in JSON, §7.1.15): one entry per document with its hash and signature links. */
export const rolieFeedSchema = z.object({
  feed: z.object({
    id: z.string().min(1),
    entry: z
      .array(
        z
          .object({
            id: z.string().min(1),
            updated: timestampSchema,
            link: z.array(z.object({ rel: z.string().min(1), href: z.url() })).min(1),
            content: z.object({ src: z.url().optional() }).optional(),
          })
          .refine((e) => e.link.some((l) => l.rel === 'self') || e.content?.src !== undefined, {
            message: 'an entry links its document with rel "self"',
            path: ['link'],
          }),
      )
      .default([]),
  }),
});

/** One list of documents to read: a ROLIE feed, or a directory's changes.csv. */
export interface CsafIndex {
  kind: 'rolie' | 'directory';
  /** The ROLIE feed or the changes.csv. */
  url: string;
  /** The directory (with a trailing slash) that changes.csv paths are relative to. */
  base: string;
}

export interface CsafSource {
  indexes: CsafIndex[];
  /** The provider-metadata.json the indexes were read from, when they were. */
  metadata?: { url: string; doc: ProviderMetadata } | undefined;
}

const withSlash = (url: string) => (url.endsWith('/') ? url : `${url}/`);

export function directoryIndex(directoryUrl: string): CsafIndex {
  const base = withSlash(directoryUrl);
  return { kind: 'directory', url: new URL('changes.csv', base).toString(), base };
}

/** Where provider-metadata.json is when the config names one: the URL given, or the domain's well-known place (§7.1.9). */
export function providerMetadataUrl(config: Pick<CsafConfig, 'providerMetadataUrl' | 'domain'>): string | undefined {
  if (config.providerMetadataUrl) return config.providerMetadataUrl;
  return config.domain ? `https://${config.domain}/.well-known/csaf/provider-metadata.json` : undefined;
}

/**
 * A file a provider may or may not publish (a hash, a signature, a key, a provider-metadata.json).
 * `undefined` when the server gave a definite answer that it is not there (404, 403, an HTML page);
 * a failure worth retrying (5xx, network) still throws, so that the sync fails and is run again.
 */
export async function getPublished(url: string, opts: FetchOptions): Promise<FetchedBody | undefined> {
  try {
    return await getBody(url, opts);
  } catch (err) {
    if (err instanceof UpstreamError && !err.retryable) return undefined;
    throw err;
  }
}

export function parseProviderMetadata(body: Buffer, url: string): ProviderMetadata {
  const what = `CSAF provider-metadata.json (${url})`;
  return parseInput(providerMetadataSchema, parseJsonText(feedText(body, what), what), what);
}

export async function fetchProviderMetadata(url: string, opts: FetchOptions): Promise<ProviderMetadata> {
  return parseProviderMetadata((await getBody(url, opts)).body, url);
}

/**
 * The indexes of a provider-metadata.json: its ROLIE feeds whose TLP is wanted, or, when it offers
 * no ROLIE feed, every distribution directory (directories carry no TLP label).
 */
export function indexesOf(metadata: ProviderMetadata, tlp: readonly string[], url: string): CsafIndex[] {
  const feeds = metadata.distributions.flatMap((d) => d.rolie?.feeds ?? []);
  if (feeds.length > 0) {
    const wanted = feeds.filter((f) => tlp.includes(f.tlp_label));
    if (wanted.length === 0)
      throw new InputError(
        `CSAF provider-metadata.json (${url}) offers ROLIE feeds for ${[...new Set(feeds.map((f) => f.tlp_label))].join(', ')}, none for tlp ${tlp.join(', ')}`,
        [{ path: ['tlp'], message: 'no ROLIE feed with these TLP labels' }],
      );
    return wanted.map((f) => ({ kind: 'rolie', url: f.url, base: f.url }));
  }
  return metadata.distributions.flatMap((d) => (d.directory_url ? [directoryIndex(d.directory_url)] : []));
}

/** Where the sync reads its document lists from: the configured directory, or what provider-metadata.json names. */
export async function locateIndexes(config: CsafConfig, opts: FetchOptions): Promise<CsafSource> {
  const metadataUrl = providerMetadataUrl(config);
  if (!metadataUrl) return { indexes: [directoryIndex(config.url ?? defaultDirectoryUrl)] };
  const doc = await fetchProviderMetadata(metadataUrl, opts);
  return { indexes: indexesOf(doc, config.tlp, metadataUrl), metadata: { url: metadataUrl, doc } };
}

/**
 * The provider-metadata.json of a distribution directory given on its own, for its keys: the one
 * beside the directory (Red Hat, Stackable and csaf_provider's layout put it one level up), else
 * the origin's well-known one. It counts only if it names this directory as a distribution, so
 * that a host's other provider cannot vouch for it.
 */
export async function metadataForDirectory(
  directoryUrl: string,
  opts: FetchOptions,
  logger: Logger,
): Promise<{ url: string; doc: ProviderMetadata } | undefined> {
  const base = withSlash(directoryUrl);
  const candidates = [
    new URL('../provider-metadata.json', base).toString(),
    new URL('/.well-known/csaf/provider-metadata.json', base).toString(),
  ];
  for (const url of [...new Set(candidates)]) {
    const found = await getPublished(url, opts);
    if (!found) continue;
    const doc = parseProviderMetadata(found.body, url);
    if (doc.distributions.some((d) => d.directory_url !== undefined && withSlash(d.directory_url) === base))
      return { url, doc };
    logger.warn('CSAF provider-metadata.json does not name this directory; its keys are not used', {
      providerMetadata: url,
      directory: base,
    });
  }
  return undefined;
}
