import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import { InputError, UpstreamError } from '../../../kernel/errors.ts';
import { getBody, type FetchOptions } from '../http.ts';
import type { ProviderKey } from './discovery.ts';

/**
 * Whether a CSAF document is the one its provider published (CSAF 2.0 §7.1.18–20): its bytes
 * against the published SHA-512 or SHA-256, and its detached OpenPGP signature against the
 * provider's keys, both checked before the document is parsed (§7.3.2). Each check answers with a
 * refusal reason, or undefined when the document passes.
 */

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';
const hexLength: Record<HashAlgorithm, number> = { sha256: 64, sha384: 96, sha512: 128 };
const algorithmName: Record<HashAlgorithm, string> = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

export interface HashLine {
  /** Lowercase hexadecimal. */
  hex: string;
  /** The file the line names, as written (it may carry a path, e.g. `2026/cve-2026-42203.json`). */
  name?: string | undefined;
}

/**
 * A hash file as `sha256sum`/`sha512sum` write it: "<hex>  <name>" per line. CSAF asks only that the
 * file start with the hex value and that anything after it be separated by a space (§7.1.18), so one
 * space, a `*` binary marker, a path in the name, uppercase hex, CRLF and a missing final newline
 * are all read.
 */
export function parseHashFile(text: string): HashLine[] {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new InputError('the hash file is empty', [{ path: [], message: 'empty' }]);
  return lines.map((line, i) => {
    const m = /^([0-9a-fA-F]+)(?:[ \t]+\*?(.*?))?[ \t]*$/.exec(line);
    if (!m?.[1] || !Object.values(hexLength).includes(m[1].length))
      throw new InputError(`hash file line ${i + 1} is not "<hex digest>  <file name>"`, [
        { path: ['line', i + 1], message: 'expected a SHA-256, SHA-384 or SHA-512 hex digest, then the file name' },
      ]);
    return { hex: m[1].toLowerCase(), name: m[2] ? m[2] : undefined };
  });
}

const baseName = (nameOrUrl: string) => nameOrUrl.split(/[/\\]/).at(-1) ?? nameOrUrl;

/** The algorithm a hash file is for: by its extension (`.sha512`), else by the length of its digest. */
export function hashAlgorithm(hashUrl: string, hex: string): HashAlgorithm | undefined {
  const ext = /\.(sha256|sha384|sha512)$/i.exec(new URL(hashUrl).pathname)?.[1]?.toLowerCase();
  if (ext) return ext as HashAlgorithm;
  return (Object.keys(hexLength) as HashAlgorithm[]).find((a) => hexLength[a] === hex.length);
}

/** Checks a document's bytes against its hash file; a refusal reason, or undefined when they match. */
export function checkHash(body: Buffer, hashText: string, hashUrl: string, documentUrl: string): string | undefined {
  let lines: HashLine[];
  try {
    lines = parseHashFile(hashText);
  } catch (err) {
    return `hash file ${hashUrl} is unreadable: ${(err as Error).message}`;
  }
  const docName = baseName(new URL(documentUrl).pathname);
  // One line is the document's own hash file; a file listing several names the document's line.
  const line = lines.length === 1 ? lines[0] : lines.find((l) => l.name !== undefined && baseName(l.name) === docName);
  if (!line) return `hash file ${hashUrl} lists ${lines.length} files, none of them ${docName}`;
  const algorithm = hashAlgorithm(hashUrl, line.hex);
  if (!algorithm || line.hex.length !== hexLength[algorithm])
    return `hash file ${hashUrl} holds a ${line.hex.length}-digit value, not a ${algorithm ? algorithmName[algorithm] : 'known'} digest`;
  const actual = createHash(algorithm).update(body).digest('hex');
  if (actual !== line.hex)
    return `${algorithmName[algorithm]} of the document is ${actual}, but ${hashUrl} publishes ${line.hex}: the document is not the one published`;
  return undefined;
}

export interface TrustedKey {
  key: openpgp.PublicKey;
  /** Where the key came from, for messages. */
  source: string;
}

const fingerprintOf = (key: openpgp.PublicKey) => key.getFingerprint().toUpperCase();
const normalise = (fingerprint: string) => fingerprint.replace(/\s+/g, '').toUpperCase();

async function readArmoredKeys(text: string): Promise<openpgp.PublicKey[]> {
  const keys = await openpgp.readKeys({ armoredKeys: text });
  return keys.map((k) => (k.isPrivate() ? k.toPublic() : k));
}

/**
 * The keys a provider lists in provider-metadata.json (§7.1.20), each fetched and kept only if its
 * fingerprint is the one stated there. A key that cannot be had or does not match is reported in
 * `problems`, not trusted.
 */
export async function providerKeys(
  listed: ProviderKey[],
  opts: FetchOptions,
): Promise<{ keys: TrustedKey[]; problems: string[] }> {
  const keys: TrustedKey[] = [];
  const problems: string[] = [];
  for (const entry of listed) {
    let armored: string;
    try {
      armored = (await getBody(entry.url, opts)).body.toString('utf8');
    } catch (err) {
      if (err instanceof UpstreamError && err.retryable) throw err;
      problems.push(`key ${entry.url} cannot be fetched: ${(err as Error).message}`);
      continue;
    }
    let found: openpgp.PublicKey[];
    try {
      found = await readArmoredKeys(armored);
    } catch (err) {
      problems.push(`key ${entry.url} is not an armored OpenPGP public key: ${(err as Error).message}`);
      continue;
    }
    const stated = entry.fingerprint ? normalise(entry.fingerprint) : undefined;
    const matching = stated ? found.filter((k) => fingerprintOf(k) === stated) : found;
    if (matching.length === 0) {
      problems.push(
        `key ${entry.url} has fingerprint ${found.map(fingerprintOf).join(', ')}, but provider-metadata.json states ${stated ?? '?'}`,
      );
      continue;
    }
    keys.push(...matching.map((key) => ({ key, source: entry.url })));
  }
  return { keys, problems };
}

/**
 * Keys named in the config (`openpgpKeys`): file paths or URLs of armored keys, each optionally
 * pinned to a fingerprint with `#FINGERPRINT`. The operator chose them, so a problem with one
 * is a configuration error naming it.
 */
export async function configuredKeys(specs: string[], opts: FetchOptions): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const [i, spec] of specs.entries()) {
    const pin = /#([0-9a-fA-F\s]{40,})$/.exec(spec);
    const location = pin ? spec.slice(0, pin.index) : spec;
    const fail = (message: string, cause?: unknown) =>
      new InputError(`CSAF openpgpKeys.${i} (${location}): ${message}`, [{ path: ['openpgpKeys', i], message }], cause);
    let armored: string;
    if (/^https?:\/\//i.test(location)) {
      armored = (await getBody(location, opts)).body.toString('utf8');
    } else {
      try {
        armored = await readFile(location, 'utf8');
      } catch (err) {
        throw fail(`cannot be read: ${(err as Error).message}`, err);
      }
    }
    let found: openpgp.PublicKey[];
    try {
      found = await readArmoredKeys(armored);
    } catch (err) {
      throw fail(`not an armored OpenPGP public key: ${(err as Error).message}`, err);
    }
    const wanted = pin?.[1] ? normalise(pin[1]) : undefined;
    const matching = wanted ? found.filter((k) => fingerprintOf(k) === wanted) : found;
    if (matching.length === 0)
      throw fail(`has fingerprint ${found.map(fingerprintOf).join(', ')}, not the pinned ${wanted ?? ''}`);
    keys.push(...matching.map((key) => ({ key, source: location })));
  }
  return keys;
}

/**
 * Checks a detached, armored OpenPGP signature of the document's bytes against the trusted keys;
 * a refusal reason, or undefined when one signature in the file is good and by one of them.
 */
export async function checkSignature(
  body: Buffer,
  armoredSignature: string,
  signatureUrl: string,
  keys: TrustedKey[],
): Promise<string | undefined> {
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature });
  } catch (err) {
    return `signature file ${signatureUrl} is not an armored OpenPGP signature: ${(err as Error).message}`;
  }
  const message = await openpgp.createMessage({ binary: new Uint8Array(body) });
  const result = await openpgp.verify({
    message,
    signature,
    verificationKeys: keys.map((k) => k.key),
    format: 'binary',
  });
  // Every `verified` promise is awaited, so that none rejects unobserved.
  const outcomes = await Promise.allSettled(result.signatures.map((s) => s.verified));
  if (outcomes.some((o) => o.status === 'fulfilled' && o.value)) return undefined;
  const signers = result.signatures.map((s) => s.keyID.toHex().toUpperCase());
  const trusted = new Set(keys.flatMap((k) => k.key.getKeyIDs().map((id) => id.toHex().toUpperCase())));
  if (signers.length > 0 && signers.every((id) => !trusted.has(id)))
    return `signature ${signatureUrl} is by key ${signers.join(', ')}, which is not a trusted key of this provider (${keys.map((k) => fingerprintOf(k.key)).join(', ')})`;
  const why = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'not valid')).join('; ');
  return `signature ${signatureUrl} does not verify the document: ${why || 'no signature in the file'}`;
}

/** A log line's worth about the keys a sync trusts. */
export function describeKeys(keys: TrustedKey[]): string[] {
  return keys.map((k) => `${fingerprintOf(k.key)} (${k.source})`);
}
