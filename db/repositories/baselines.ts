import type { Knex } from 'knex';
import type { Baseline, BaselinePatch } from '../../prioritization/baselines.ts';

interface BaselineRow {
  id: string;
  platform: Baseline['platform'];
  rules: Baseline['rules'];
  approve: string[];
  reject: string[];
}

const fromRow = (r: BaselineRow): Baseline => ({
  id: r.id,
  platform: r.platform,
  rules: r.rules,
  approve: r.approve,
  reject: r.reject,
});

/** Callers validate with baselineSchema first. */
export async function saveBaseline(db: Knex, b: Baseline): Promise<void> {
  await db('patch_baselines')
    .insert({
      id: b.id,
      platform: b.platform,
      rules: JSON.stringify(b.rules),
      approve: b.approve,
      reject: b.reject,
      updated_at: db.fn.now(),
    })
    .onConflict('id')
    .merge();
}

export async function listBaselines(db: Knex): Promise<Baseline[]> {
  return ((await db('patch_baselines').select('*').orderBy('id')) as BaselineRow[]).map(fromRow);
}

export async function getBaseline(db: Knex, id: string): Promise<Baseline | undefined> {
  const row = (await db('patch_baselines').where({ id }).first()) as BaselineRow | undefined;
  return row ? fromRow(row) : undefined;
}

/** The facts baselines judge patches by: for the patches of one platform ("*" for all), or for the patches named. */
export async function baselinePatches(
  db: Knex,
  which: { platform: string } | { ids: string[] },
): Promise<BaselinePatch[]> {
  const q = db('patches')
    .select('id', 'vendor_ref', 'classification', 'severity', 'platform', 'released_at')
    .orderBy('id');
  if ('ids' in which) q.whereIn('id', which.ids);
  else if (which.platform !== '*') q.whereRaw('lower(platform) = lower(?)', [which.platform]);
  const rows = (await q) as {
    id: string;
    vendor_ref: string;
    classification: string | null;
    severity: string | null;
    platform: string | null;
    released_at: Date | null;
  }[];
  return rows.map((r) => ({
    id: r.id,
    vendorRef: r.vendor_ref,
    classification: r.classification,
    severity: r.severity,
    platform: r.platform,
    // A date column arrives as local midnight; keep the calendar date.
    releasedAt: r.released_at
      ? `${r.released_at.getFullYear()}-${String(r.released_at.getMonth() + 1).padStart(2, '0')}-${String(r.released_at.getDate()).padStart(2, '0')}`
      : null,
  }));
}
