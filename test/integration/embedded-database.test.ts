import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase } from '../../db/knex.ts';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/patchflow.mjs', import.meta.url));

/** PGlite has one owner: a second process on the same folder would lose rows without an error. */
describe('the embedded database has one owner', () => {
  it('refuses a second opener, says who holds it, and loses nothing', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'patchflow-pglite-'));
    const first = openDatabase({ dataDir });
    await migrateToLatest(first);
    await first('assets').insert(
      Array.from({ length: 200 }, (_, i) => ({
        hostname: `own-${i}`,
        criticality: 3,
        platform: 'linux',
        source: 'test',
      })),
    );
    expect(() => openDatabase({ dataDir })).toThrow(
      new RegExp(`^the embedded database at .*pgdata is in use by another Patchflow process \\(pid ${process.pid}, `),
    );

    // Another process (`patchflow db migrate` beside a running `npm start`) is refused the same way, at once.
    const second = await run(process.execPath, [cli, 'db', 'migrate'], {
      env: { PATH: process.env['PATH'], PATCHFLOW_DATA_DIR: dataDir },
      encoding: 'utf8',
      timeout: 60_000,
    }).catch((err: { code: number; stderr: string }) => err);
    expect('code' in second && second.code).toBe(1);
    expect((second as { stderr: string }).stderr).toMatch(/is in use by another Patchflow process \(pid \d+/);

    await first.destroy();
    const reopened = openDatabase({ dataDir });
    try {
      expect(await reopened('assets').where('hostname', 'like', 'own-%').count<{ n: number }[]>('* as n')).toEqual([
        { n: 200 },
      ]);
    } finally {
      await reopened.destroy();
    }
  }, 90_000);
});
