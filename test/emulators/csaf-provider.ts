import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { HttpEmulator } from './http-emulator.ts';

/**
 * Two real CSAF 2.0 providers on 127.0.0.1, each served as published: ISDuBA (a trusted provider with
 * provider-metadata.json, ROLIE feeds per TLP, SHA-256/SHA-512 files and RSA signatures) and Stackable
 * (directory-based distribution only, ed25519 signatures, hash lines that name a path and end without
 * a newline). The real origin in provider-metadata.json and the ROLIE feeds is rewritten to the
 * emulator's; documents, hashes, signatures and keys are served byte for byte, as they were signed.
 */

const fixtures = path.resolve(import.meta.dirname, '../fixtures/feeds/csaf-provider');
// A fixed publication time, so that If-Modified-Since works the way it does against a real file server.
const published = new Date('2025-12-12T16:28:00Z');

export type CsafProviderName = 'isduba' | 'stackable';

interface Tree {
  /** The origin the provider publishes at, rewritten to the emulator's in metadata files. */
  origin: string;
  /** Fixture path (relative to the provider's folder) → the URL paths it is served at. */
  place(rel: string): string[];
}

const trees: Record<CsafProviderName, Tree> = {
  isduba: { origin: 'https://isduba.github.io', place: (rel) => [`/.well-known/csaf/${rel}`] },
  stackable: {
    origin: 'https://advisories.stackable.tech',
    place: (rel) =>
      rel === 'provider-metadata.json'
        ? // In the provider's repository `.well-known/csaf/provider-metadata.json` is a symlink to this file.
          ['/csaf/v2/provider-metadata.json', '/.well-known/csaf/provider-metadata.json']
        : rel.startsWith('openpgp/')
          ? [`/csaf/v2/${rel}`]
          : [`/csaf/v2/advisories/${rel}`],
  },
};

/** Metadata files name absolute URLs; everything else (documents, hashes, signatures, keys) is signed content. */
const isMetadata = (rel: string) => /(^|\/)(provider-metadata|csaf-feed-[\w-]+)\.json$/.test(rel);

function contentType(urlPath: string): string {
  if (urlPath.endsWith('.json')) return 'application/json';
  if (urlPath.endsWith('.csv')) return 'text/csv';
  return 'text/plain; charset=utf-8';
}

function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => {
    const rel = prefix ? `${prefix}/${name}` : name;
    return statSync(path.join(dir, name)).isDirectory() ? walk(path.join(dir, name), rel) : [rel];
  });
}

/** A fixture file of a provider, as committed (not rewritten). */
export function providerFixture(provider: CsafProviderName, rel: string): Buffer {
  return readFileSync(path.join(fixtures, provider, rel));
}

export const providerFixturePath = (provider: CsafProviderName, rel: string) => path.join(fixtures, provider, rel);

export interface ServedRequest {
  path: string;
  status: number;
}

export class CsafProviderEmulator extends HttpEmulator {
  readonly requests: ServedRequest[] = [];
  private readonly files = new Map<string, Buffer>();

  constructor(readonly provider: CsafProviderName) {
    super('');
  }

  override async start(): Promise<this> {
    await super.start();
    const tree = trees[this.provider];
    for (const rel of walk(path.join(fixtures, this.provider))) {
      const raw = providerFixture(this.provider, rel);
      const body = isMetadata(rel) ? Buffer.from(raw.toString('utf8').replaceAll(tree.origin, this.url)) : raw;
      for (const urlPath of tree.place(rel)) this.files.set(urlPath, body);
    }
    return this;
  }

  /** The URL of a path on the emulated provider, e.g. `/.well-known/csaf/provider-metadata.json`. */
  at(urlPath: string): string {
    return `${this.url}${urlPath}`;
  }

  /** What is served at a path now. */
  served(urlPath: string): Buffer {
    const body = this.files.get(urlPath);
    if (!body) throw new Error(`the emulated ${this.provider} provider serves nothing at ${urlPath}`);
    return body;
  }

  /** Serves other bytes at a path, as a tampered mirror or a provider's republishing would. */
  replace(urlPath: string, body: Buffer | string): void {
    this.files.set(urlPath, Buffer.from(body));
  }

  /** Stops serving a path (404), as a provider that never published the file. */
  remove(urlPath: string): void {
    this.files.delete(urlPath);
  }

  protected handle(req: http.IncomingMessage, _body: Buffer, res: http.ServerResponse): void {
    const urlPath = new URL(req.url ?? '/', 'http://emulator').pathname;
    const body = this.files.get(urlPath);
    if (!body) {
      this.requests.push({ path: urlPath, status: 404 });
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    const validators = { etag, 'last-modified': published.toUTCString() };
    const ifNoneMatch = req.headers['if-none-match'];
    const unchanged =
      ifNoneMatch !== undefined
        ? ifNoneMatch.split(/\s*,\s*/).includes(etag)
        : req.headers['if-modified-since'] !== undefined &&
          Date.parse(req.headers['if-modified-since']) >= published.getTime();
    if (unchanged) {
      this.requests.push({ path: urlPath, status: 304 });
      res.writeHead(304, validators).end();
      return;
    }
    this.requests.push({ path: urlPath, status: 200 });
    res
      .writeHead(200, { ...validators, 'content-type': contentType(urlPath), 'content-length': body.length })
      .end(body);
  }
}

export async function startCsafProvider(provider: CsafProviderName): Promise<CsafProviderEmulator> {
  return new CsafProviderEmulator(provider).start();
}

/**
 * Makes a distribution directory of documents a trusted provider's, for emulators that serve CSAF
 * documents nobody signed (the OASIS examples): a key generated here signs each document, a
 * `.sha512` and an `.asc` go beside it, and `/.well-known/csaf/provider-metadata.json` names the
 * directory and the key with its fingerprint.
 */
export async function signAsProvider(
  origin: string,
  directoryPath: string,
  documents: Map<string, Buffer>,
): Promise<Map<string, { body: Buffer; contentType: string }>> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    userIDs: [{ name: 'Patchflow test CSAF provider', email: 'csaf@example.test' }],
    format: 'object',
  });
  const fingerprint = publicKey.getFingerprint().toUpperCase();
  const out = new Map<string, { body: Buffer; contentType: string }>();
  const text = (body: string, type = 'text/plain; charset=utf-8') => ({ body: Buffer.from(body), contentType: type });
  for (const [urlPath, body] of documents) {
    const hex = createHash('sha512').update(body).digest('hex');
    out.set(`${urlPath}.sha512`, text(`${hex}  ${path.posix.basename(urlPath)}\n`));
    const signature = await openpgp.sign({
      message: await openpgp.createMessage({ binary: new Uint8Array(body) }),
      signingKeys: privateKey,
      detached: true,
      format: 'armored',
    });
    out.set(`${urlPath}.asc`, text(signature));
  }
  const keyPath = `/.well-known/csaf/openpgp/${fingerprint}.asc`;
  out.set(keyPath, text(publicKey.armor()));
  out.set(
    '/.well-known/csaf/provider-metadata.json',
    text(
      JSON.stringify({
        canonical_url: `${origin}/.well-known/csaf/provider-metadata.json`,
        distributions: [{ directory_url: `${origin}${directoryPath}` }],
        last_updated: published.toISOString(),
        list_on_CSAF_aggregators: false,
        metadata_version: '2.0',
        mirror_on_CSAF_aggregators: false,
        public_openpgp_keys: [{ fingerprint, url: `${origin}${keyPath}` }],
        publisher: { category: 'other', name: 'Patchflow feed emulator', namespace: 'https://example.test' },
        role: 'csaf_trusted_provider',
      }),
      'application/json',
    ),
  );
  return out;
}
