import type { Knex } from 'knex';
import { classificationOf, platformOf, platforms } from '../../prioritization/vocabulary.ts';

const chunkSize = 5000;

/**
 * One vocabulary for classifications and platforms (prioritization/vocabulary.ts). Patches stored
 * before it carry the feeds' own words: MSRC's SubType ("Security Update", "Monthly Rollup") and
 * product family ("Windows", "Microsoft Office"), CSAF's "Security Update" and product family ("Red
 * Hat Enterprise Linux"). Those become the vocabulary's names, the platform judged by the patch's
 * product names first as the feeds now do (a Mac Office build is macos, not its family's windows); a
 * word the vocabulary does not know stays as stored, for a person to read.
 *
 * Baselines: a rule's classification names the same kind of patch in the vocabulary's spelling
 * ("Security Update" → "Security Updates"). A platform is only respelled when it is a vocabulary
 * name in another case ("Windows" → "windows"): a baseline for "Microsoft Office" does not silently
 * become one approving every Windows patch, it covers nothing until someone names a platform.
 */
export async function up(db: Knex): Promise<void> {
  const stored = (await db('patches').distinct('classification').whereNotNull('classification')) as {
    classification: string;
  }[];
  for (const { classification } of stored) {
    const known = classificationOf(classification);
    if (known && known !== classification)
      await db('patches').where({ classification }).update({ classification: known });
  }

  const patches = (await db('patches as p')
    .leftJoin('patch_products as pp', 'pp.patch_id', 'p.id')
    .groupBy('p.id', 'p.platform')
    .select(
      'p.id',
      'p.platform',
      db.raw(
        `coalesce(array_agg(pp.product_name order by pp.product_name) filter (where pp.product_name is not null), '{}') as names`,
      ),
    )) as { id: string; platform: string | null; names: string[] }[];
  const byPlatform = new Map<string, string[]>();
  for (const p of patches) {
    const platform = platformOf(...p.names, p.platform);
    if (!platform || platform === p.platform) continue;
    const ids = byPlatform.get(platform) ?? [];
    ids.push(p.id);
    byPlatform.set(platform, ids);
  }
  for (const [platform, ids] of byPlatform)
    for (let i = 0; i < ids.length; i += chunkSize)
      await db('patches')
        .whereIn('id', ids.slice(i, i + chunkSize))
        .update({ platform });

  const baselines = (await db('patch_baselines').select('id', 'platform', 'rules')) as {
    id: string;
    platform: string;
    rules: { classifications?: string[] }[];
  }[];
  for (const b of baselines) {
    const platform = platforms.find((p) => p === b.platform.toLowerCase()) ?? b.platform;
    const rules = b.rules.map((r) =>
      r.classifications
        ? { ...r, classifications: [...new Set(r.classifications.map((c) => classificationOf(c) ?? c))] }
        : r,
    );
    if (platform !== b.platform || JSON.stringify(rules) !== JSON.stringify(b.rules))
      await db('patch_baselines')
        .where({ id: b.id })
        .update({ platform, rules: JSON.stringify(rules) });
  }
}

/** The vendors' own words are not kept, so there is nothing to go back to; the vocabulary's names stay. */
export async function down(): Promise<void> {}
