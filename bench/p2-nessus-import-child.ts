import { createReadStream } from 'node:fs';
import knexFactory from 'knex';
import { SaxesParser } from 'saxes';
import { importScanReport } from '../app/scan-import.ts';

/**
 * One measured run of the P2 benchmark, in its own process so that its peak RSS is its own:
 *   parse <file>          a bare saxes parse (no handlers), the baseline
 *   import <file> <url>   the real import into the database at <url>
 * Prints one JSON line: seconds, peak RSS and, for an import, its summary.
 */
const [mode, file, url] = process.argv.slice(2);
if (!file || (mode !== 'parse' && mode !== 'import') || (mode === 'import' && !url)) {
  console.error('usage: p2-nessus-import-child.ts parse <file> | import <file> <postgres url>');
  process.exit(2);
}

const chunkBytes = 64 * 1024;
// Straight to Postgres: db/knex.ts would also load the embedded PGlite engine (~50 MB), which an import never uses.
const db = mode === 'import' ? knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 2 } }) : undefined;
// Connected (and knex's Postgres dialect loaded) before the clock starts, as in a running server.
await db?.raw('select 1');
const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
const started = process.hrtime.bigint();
let summary: unknown;
if (!db) {
  const parser = new SaxesParser();
  const decoder = new TextDecoder();
  for await (const chunk of createReadStream(file, { highWaterMark: chunkBytes }))
    parser.write(decoder.decode(chunk as Buffer, { stream: true }));
  parser.close();
} else {
  summary = await importScanReport(db, createReadStream(file, { highWaterMark: chunkBytes }), {
    format: 'auto',
    actor: 'bench',
  });
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await db?.destroy();
// maxRSS is in KiB on Linux.
console.log(JSON.stringify({ seconds, peakRssMb: process.resourceUsage().maxRSS / 1024, rssBeforeMb, summary }));
