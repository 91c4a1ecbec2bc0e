import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { signAsProvider } from './csaf-provider.ts';

/**
 * Advisory sources on 127.0.0.1, serving the real fixture files the way the real services do:
 * ETag/Last-Modified validators with 304, NVD API 2.0 paging and lastModified windows (at most
 * 120 days), MSRC's updates list with CVRF documents, a CSAF provider directory with changes.csv
 * (each document hashed and signed, the key named by a provider-metadata.json).
 * Modes make it misbehave as those services do: rate limiting with Retry-After, and an HTML error
 * page served with status 200.
 */

const fixtures = path.resolve(import.meta.dirname, '../fixtures/feeds');
const read = (rel: string) => readFileSync(path.join(fixtures, rel));
// A fixed publication time, so that If-Modified-Since works the way it does against a real file server.
const published = new Date('2025-08-25T17:04:19Z');

interface Document {
  body: Buffer;
  contentType: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  headers: IncomingMessage['headers'];
}

export interface FeedEmulator {
  url: string;
  requests: RecordedRequest[];
  /** The next `count` requests answer `status` with Retry-After: `retryAfterSeconds`. */
  rateLimit(count: number, opts?: { status?: 403 | 429; retryAfterSeconds?: number }): void;
  /** Every request answers 200 with a portal's HTML error page until turned off. */
  htmlErrors(on: boolean): void;
  /** Replaces a served document, as when the source publishes a new version (its ETag changes). */
  replace(urlPath: string, body: Buffer | string): void;
  close(): Promise<void>;
}

const nvdMaxWindowMs = 120 * 86_400_000;

interface NvdCve {
  cve: { id: string; lastModified: string };
}

function nvdVulnerabilities(): NvdCve[] {
  const pages = ['cve/nvd-api-2.0/full-page.json', 'cve/nvd-api-2.0/single-entry.json'].map(
    (f) => JSON.parse(read(f).toString('utf8')) as { vulnerabilities: NvdCve[] },
  );
  return pages.flatMap((p) => p.vulnerabilities);
}

export async function startFeedEmulator(): Promise<FeedEmulator> {
  const docs = new Map<string, Document>();
  const json = (body: Buffer) => ({ body, contentType: 'application/json' });
  docs.set('/kev/known_exploited_vulnerabilities.json', json(read('kev/known_exploited_vulnerabilities.json')));
  docs.set('/epss/epss_scores-current.csv.gz', {
    body: gzipSync(read('epss/epss_scores-current.head.csv')),
    contentType: 'application/gzip',
  });
  docs.set('/epss/example-1.csv', { body: read('epss/example-1.csv'), contentType: 'text/csv' });

  const requests: RecordedRequest[] = [];
  let rateLimited = { count: 0, status: 429, retryAfterSeconds: 1 };
  let htmlErrors = false;
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://emulator');
    const record = (status: number) =>
      requests.push({
        method: req.method ?? 'GET',
        path: u.pathname,
        query: Object.fromEntries(u.searchParams),
        status,
        headers: req.headers,
      });
    if (rateLimited.count > 0) {
      rateLimited.count -= 1;
      record(rateLimited.status);
      res
        .writeHead(rateLimited.status, {
          'retry-after': String(rateLimited.retryAfterSeconds),
          'content-type': 'text/plain',
        })
        .end('rate limit exceeded');
      return;
    }
    if (htmlErrors) {
      record(200);
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          '<!DOCTYPE html><html><head><title>Service Temporarily Unavailable</title></head><body><h1>We are down for maintenance</h1></body></html>',
        );
      return;
    }
    const status = route(u, req, res, docs);
    record(status);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // MSRC and CSAF indexes name absolute document URLs, so they are built once the port is known.
  const cvrf = [
    { id: '2017-May-B', file: 'advisories/msrc-cvrf/cvrfDocument-2017-May-B.xml', changed: '2017-05-08T07:00:00Z' },
    { id: '2023-Dec', file: 'advisories/msrc-cvrf/cvrfDocument-2023-Dec.xml', changed: '2023-12-21T18:16:53Z' },
  ];
  for (const c of cvrf) docs.set(`/msrc/cvrf/${c.id}`, { body: read(c.file), contentType: 'application/xml' });
  docs.set(
    '/msrc/updates',
    json(
      Buffer.from(
        JSON.stringify({
          '@odata.context': `${url}/msrc/$metadata#Updates`,
          value: cvrf.map((c) => ({
            ID: c.id,
            Alias: c.id,
            DocumentTitle: c.id,
            Severity: null,
            InitialReleaseDate: c.changed,
            CurrentReleaseDate: c.changed,
            CvrfUrl: `${url}/msrc/cvrf/${c.id}`,
          })),
        }),
      ),
    ),
  );
  const csafFiles = readdirSync(path.join(fixtures, 'advisories/csaf')).sort();
  const changes: string[] = [];
  const csafDocs = new Map<string, Buffer>();
  for (const f of csafFiles) {
    const doc = JSON.parse(read(`advisories/csaf/${f}`).toString('utf8')) as {
      document: { tracking: { current_release_date: string } };
    };
    const when = doc.document.tracking.current_release_date;
    const rel = `${when.slice(0, 4)}/${f}`;
    docs.set(`/csaf/${rel}`, json(read(`advisories/csaf/${f}`)));
    csafDocs.set(`/csaf/${rel}`, read(`advisories/csaf/${f}`));
    changes.push(`"${rel}","${when}"`);
  }
  for (const [p, d] of await signAsProvider(url, '/csaf/', csafDocs)) docs.set(p, d);
  // changes.csv lists the newest change first, as providers publish it.
  docs.set('/csaf/changes.csv', { body: Buffer.from(`${changes.reverse().join('\n')}\n`), contentType: 'text/csv' });

  return {
    url,
    requests,
    rateLimit(count, opts = {}) {
      rateLimited = { count, status: opts.status ?? 429, retryAfterSeconds: opts.retryAfterSeconds ?? 1 };
    },
    htmlErrors(on) {
      htmlErrors = on;
    },
    replace(urlPath, body) {
      const prev = docs.get(urlPath);
      docs.set(urlPath, { body: Buffer.from(body), contentType: prev?.contentType ?? 'application/octet-stream' });
    },
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

function route(u: URL, req: IncomingMessage, res: ServerResponse, docs: Map<string, Document>): number {
  if (u.pathname === '/nvd/rest/json/cves/2.0') return nvdApi(u, res);
  const doc = docs.get(u.pathname);
  if (!doc) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return 404;
  }
  const etag = `"${createHash('sha256').update(doc.body).digest('hex').slice(0, 16)}"`;
  const validators = { etag, 'last-modified': published.toUTCString() };
  const ifNoneMatch = req.headers['if-none-match'];
  const ifModifiedSince = req.headers['if-modified-since'];
  // RFC 9110: If-None-Match wins over If-Modified-Since when both are sent.
  const unchanged =
    ifNoneMatch !== undefined
      ? ifNoneMatch.split(/\s*,\s*/).includes(etag)
      : ifModifiedSince !== undefined && Date.parse(ifModifiedSince) >= published.getTime();
  if (unchanged) {
    res.writeHead(304, validators).end();
    return 304;
  }
  res
    .writeHead(200, { ...validators, 'content-type': doc.contentType, 'content-length': doc.body.length })
    .end(doc.body);
  return 200;
}

/** NVD CVE API 2.0 as documented: both lastMod dates or neither, ranges ≤ 120 days, resultsPerPage ≤ 2000. */
function nvdApi(u: URL, res: ServerResponse): number {
  const fail = (message: string) => {
    res.writeHead(404, { message, 'content-type': 'text/plain' }).end();
    return 404;
  };
  const q = u.searchParams;
  const start = q.get('lastModStartDate');
  const end = q.get('lastModEndDate');
  if ((start === null) !== (end === null))
    return fail('Both lastModStartDate and lastModEndDate are required when either is present');
  const startMs = start === null ? -Infinity : Date.parse(start);
  const endMs = end === null ? Infinity : Date.parse(end);
  if (Number.isNaN(startMs) || Number.isNaN(endMs)) return fail('Invalid date format');
  if (endMs - startMs > nvdMaxWindowMs) return fail('The lastMod date range must not exceed 120 days');
  const startIndex = Number(q.get('startIndex') ?? 0);
  const perPage = Number(q.get('resultsPerPage') ?? 2000);
  if (!Number.isInteger(startIndex) || startIndex < 0 || !Number.isInteger(perPage) || perPage < 1 || perPage > 2000)
    return fail('Invalid paging parameters');
  const matching = nvdVulnerabilities().filter((v) => {
    const t = Date.parse(`${v.cve.lastModified}Z`);
    return t >= startMs && t <= endMs;
  });
  const page = matching.slice(startIndex, startIndex + perPage);
  const body = JSON.stringify({
    resultsPerPage: page.length,
    startIndex,
    totalResults: matching.length,
    format: 'NVD_CVE',
    version: '2.0',
    timestamp: new Date().toISOString().slice(0, 23),
    vulnerabilities: page,
  });
  res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  return 200;
}
