import type { Knex } from 'knex';
import { z } from 'zod';
import { baselinePatches, listBaselines } from '../db/repositories/baselines.ts';
import { STAGING_PATCH_GROUP } from '../db/repositories/cycles.ts';
import { InputError } from '../kernel/errors.ts';
import { decidePatch } from '../prioritization/baselines.ts';
import { loadPrioritizationPolicy } from '../prioritization/policy.ts';
import { prioritizeAssetPatches, unmappedAssets, type UnmappedAsset } from '../prioritization/query.ts';

/** `fromFindings` in a cycle request: scope the cycle by what the prioritised findings need. */
export const findingsScopeSchema = z
  .object({
    /** Which open findings count: all of them, only overdue ones, or those due soon. */
    view: z.enum(['all', 'overdue', 'due-soon']).default('all'),
    /** Leave out asset × patch pairs whose worst finding scores below this (0–100). */
    minScore: z.number().min(0).max(100).default(0),
    /** At most this many asset × patch pairs, highest risk first. */
    limit: z.number().int().min(1).max(50_000).default(5_000),
  })
  .strict();
export type FindingsScopeOptions = z.output<typeof findingsScopeSchema>;

/** One asset × patch the cycle will install, and why it is in scope. */
export interface ScopedTarget {
  hostname: string;
  patchId: string;
  score: number;
  /** The earliest SLA deadline among the open findings the patch fixes on this asset. */
  dueAt: string | null;
  why: string;
}

export interface FindingsScope {
  targets: ScopedTarget[];
  /** Patches that would fix open findings but that no baseline approves (yet), with the reason. */
  heldBack: { patchId: string; hosts: number; reason: string }[];
  /** Each included patch's baseline verdict. */
  approvedBy: Record<string, string>;
  /** Assets with open findings whose OS maps to no product: no product-specific patch is proposed for them. */
  unmapped: UnmappedAsset[];
}

/**
 * Which patch goes where, derived rather than typed in: the open findings ranked per asset ×
 * patch (risk score, SLA deadline), kept where the patch baselines approve the patch. `patchIds`
 * and `hostnames`, when given, narrow the result.
 */
export async function scopeFromFindings(
  db: Knex,
  options: FindingsScopeOptions,
  narrow: { patchIds: string[]; hostnames: string[] },
  now = new Date(),
): Promise<FindingsScope> {
  const ranked = (
    await prioritizeAssetPatches(db, loadPrioritizationPolicy(), { view: options.view, limit: options.limit, now })
  ).filter(
    (p) =>
      p.score >= options.minScore &&
      (narrow.patchIds.length === 0 || narrow.patchIds.includes(p.patchId)) &&
      (narrow.hostnames.length === 0 || narrow.hostnames.includes(p.hostname)),
  );
  const baselines = await listBaselines(db);
  const facts = await baselinePatches(db, { ids: [...new Set(ranked.map((p) => p.patchId))] });
  const verdicts = new Map(facts.map((p) => [p.id, decidePatch(p, baselines, now)]));
  const unmapped = (await unmappedAssets(db)).filter(
    (a) => narrow.hostnames.length === 0 || narrow.hostnames.includes(a.hostname),
  );
  const scope: FindingsScope = { targets: [], heldBack: [], approvedBy: {}, unmapped };
  const held = new Map<string, { patchId: string; hosts: number; reason: string }>();
  for (const p of ranked) {
    const verdict = verdicts.get(p.patchId)!;
    if (verdict.approved) {
      scope.approvedBy[p.patchId] = verdict.reason;
      scope.targets.push({
        hostname: p.hostname,
        patchId: p.patchId,
        score: p.score,
        dueAt: p.dueAt,
        why: p.explanation,
      });
    } else {
      const entry = held.get(p.patchId) ?? { patchId: p.patchId, hosts: 0, reason: verdict.reason };
      entry.hosts += 1;
      held.set(p.patchId, entry);
    }
  }
  scope.heldBack = [...held.values()];
  // Every patch is tried on the staging group first, whether or not staging hosts have the finding.
  const staging = (await db('assets').where({ patch_group: STAGING_PATCH_GROUP }).select('hostname', 'platform')) as {
    hostname: string;
    platform: string | null;
  }[];
  const inScope = new Set(scope.targets.map((t) => `${t.hostname} ${t.patchId}`));
  for (const patch of facts.filter((p) => scope.approvedBy[p.id])) {
    for (const host of staging) {
      const samePlatform =
        !patch.platform || !host.platform || patch.platform.toLowerCase() === host.platform.toLowerCase();
      if (!samePlatform || inScope.has(`${host.hostname} ${patch.id}`)) continue;
      scope.targets.push({
        hostname: host.hostname,
        patchId: patch.id,
        score: 0,
        dueAt: null,
        why: `staging: ${patch.id} is tested on ${host.hostname} before the CAB is asked`,
      });
    }
  }
  if (scope.targets.length === 0) {
    const why = scope.heldBack.length
      ? `the patches that fix them are held back: ${scope.heldBack.map((h) => `${h.patchId} (${h.reason})`).join('; ')}`
      : unmapped.length
        ? `the assets with open findings have an OS Patchflow cannot map to a product (${unmapped
            .slice(0, 5)
            .map((a) => `${a.hostname}: ${a.osName ?? 'no OS name'}`)
            .join('; ')}); set their osName`
        : 'no open finding in this view is fixed by a known patch';
    throw new InputError(`nothing to patch from the findings: ${why}`, [
      { path: ['fromFindings'], message: 'no asset × patch in scope' },
    ]);
  }
  return scope;
}
