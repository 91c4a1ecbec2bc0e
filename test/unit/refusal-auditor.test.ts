import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefusalAuditor } from '../../security/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('refused credentials are audited without a row per request', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t?.drop());

  it('writes one row a minute per source and reason, and the next row counts the ones it stood for', async () => {
    let now = Date.parse('2026-12-03T10:00:00Z');
    const auditor = new RefusalAuditor(t.db, () => now);
    for (let i = 0; i < 50; i += 1) await auditor.refused('203.0.113.9', 'unknown API token');
    await auditor.refused('203.0.113.9', 'the access token expired at 2026-12-03T09:00:00.000Z');
    await auditor.refused('198.51.100.4', 'unknown API token');
    now += 61_000;
    await auditor.refused('203.0.113.9', 'unknown API token');
    const rows = (await t.db('audit_events').where({ action: 'auth.refused' }).orderBy('seq')) as {
      subject_id: string;
      data: { reason: string; alsoRefusedSinceLastRow?: number };
    }[];
    expect(rows.map((r) => [r.subject_id, r.data.reason, r.data.alsoRefusedSinceLastRow])).toEqual([
      ['203.0.113.9', 'unknown API token', undefined],
      ['203.0.113.9', 'the access token expired at 2026-12-03T09:00:00.000Z', undefined],
      ['198.51.100.4', 'unknown API token', undefined],
      ['203.0.113.9', 'unknown API token', 49],
    ]);
  });
});
