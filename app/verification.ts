import type { Knex } from 'knex';
import type { Db } from '../db/knex.ts';
import type { RingTarget, VerificationRow } from '../db/repositories/cycles.ts';
import type { DeployRequest, HostResult, VulnerabilityScanner } from '../integrations/contract/index.ts';
import { importScan } from './scan-import.ts';

/**
 * Verification that closes the loop: after deployment the cycle's targets are scanned again and
 * each asset × patch is judged against the findings that put it in scope. A finding closes only on
 * fresh evidence, a scan of its host started after the install finished that no longer reports it;
 * the scan also shows what is still vulnerable and what is newly found. Hosts the scan did not
 * cover, and cycles without a scanner, are verified by the deployer instead, labelled
 * "deployer-reported", and their findings close with that label.
 */

export interface VerificationSummary {
  total: number;
  compliant: number;
  nonCompliant: number;
  /** How the cycle was verified: by a re-scan, by the deployer, or both (hosts the scan missed). */
  method: 'scan' | 'deployer' | 'scan+deployer';
  remediated: number;
  stillVulnerable: number;
  /** Findings the re-scan reported on the cycle's assets that were not known before it. */
  newlyFound: number;
  /** Targets verified by the deployer's word only. */
  deployerReported: number;
  scan?: { reference: string; startedAt: string } | undefined;
  /** Still-vulnerable hosts: their findings stay open, so the next cycle from findings offers them again. */
  stillVulnerableHosts: string[];
}

export interface VerifyInput {
  cycleId: string;
  targets: RingTarget[];
  /** The scanner that re-scans, when one is configured. */
  scanner?: { id: string; scanner: VulnerabilityScanner } | undefined;
  /** Asks the hosts' deployers whether they are at the patch's target state (deployer.verify, watched). */
  deployerVerify(request: Pick<DeployRequest, 'patch'> & { targets: RingTarget[] }): Promise<HostResult[]>;
  signal?: AbortSignal | undefined;
  onProgress?: ((note: string) => void) | undefined;
}

const targetKey = (assetId: string, patchId: string) => `${assetId} ${patchId}`;

/** Open findings on the targets' assets that each target's patch fixes (by CVE, or by the scanner's own KB). */
async function findingsInScope(db: Knex, targets: RingTarget[]): Promise<Map<string, number[]>> {
  const byTarget = new Map<string, number[]>();
  if (targets.length === 0) return byTarget;
  const rows = (await db.raw(
    `select t.asset_id, t.patch_id, f.id
     from unnest(cast(? as uuid[]), cast(? as text[])) as t(asset_id, patch_id)
     join findings f on f.asset_id = t.asset_id and f.status = 'open'
     where f.cve_id in (select pc.cve_id from patch_cves pc where pc.patch_id = t.patch_id)
        or t.patch_id = any(string_to_array(f.evidence->>'mskb', ' '))`,
    [targets.map((t) => t.assetId), targets.map((t) => t.patchId)],
  )) as { rows: { asset_id: string; patch_id: string; id: string }[] };
  for (const r of rows.rows) {
    const key = targetKey(r.asset_id, r.patch_id);
    byTarget.set(key, [...(byTarget.get(key) ?? []), Number(r.id)]);
  }
  return byTarget;
}

/** When each target's install last finished in this cycle; a scan that started earlier proves nothing about it. */
async function installedAt(db: Knex, cycleId: string): Promise<Map<string, Date>> {
  const rows = (await db('deployments')
    .where({ cycle_id: cycleId })
    .whereIn('outcome', ['patched', 'already_compliant'])
    .groupBy('asset_id', 'patch_id')
    .select('asset_id', 'patch_id', db.raw('max(coalesce(finished_at, started_at)) as at'))) as {
    asset_id: string;
    patch_id: string;
    at: Date;
  }[];
  return new Map(rows.map((r) => [targetKey(r.asset_id, r.patch_id), new Date(r.at)]));
}

/** Closes findings on the deployer's word, saying so: no scanner has seen them gone. */
async function closeDeployerReported(db: Knex, ids: number[], label: string): Promise<void> {
  if (ids.length === 0) return;
  await db('findings')
    .whereIn('id', ids)
    .where({ status: 'open' })
    .update({ status: 'fixed', fixed_at: new Date().toISOString(), fixed_by: label });
}

export async function verifyCycleTargets(
  db: Db,
  input: VerifyInput,
): Promise<{ rows: VerificationRow[]; summary: VerificationSummary }> {
  const inScope = await findingsInScope(db, input.targets);
  const installs = await installedAt(db, input.cycleId);
  const rows: VerificationRow[] = [];
  let newlyFound = 0;
  let scanRef: VerificationSummary['scan'];
  let unscanned = input.targets;

  if (input.scanner) {
    const hosts = [...new Map(input.targets.map((t) => [t.assetId, t])).values()];
    const report = await input.scanner.scanner.scan({
      cycleId: input.cycleId,
      targets: hosts.map((t) => ({
        assetId: t.assetId,
        hostname: t.hostname,
        address: t.address,
        platform: t.platform,
      })),
      signal: input.signal,
      onProgress: input.onProgress,
    });
    scanRef = { reference: report.reference, startedAt: report.startedAt };
    const imported = await importScan(db, report.body, {
      format: report.format,
      actor: `scanner:${input.scanner.id}`,
    });
    const covered = new Set(imported.assetIds);
    const started = new Date(report.startedAt);
    // What the scan reported, by host and CVE: another scanner's finding of the same CVE is the same flaw.
    const reported = new Set(
      (
        (await db('findings')
          .whereIn('asset_id', [...covered])
          .where({ source: imported.format })
          .where('last_seen', '>=', imported.seenAt)
          .whereNot({ cve_id: '' })
          .select('asset_id', 'cve_id')) as { asset_id: string; cve_id: string }[]
      ).map((f) => `${f.asset_id} ${f.cve_id}`),
    );
    const before = [...inScope.values()].flat();
    const states = new Map(
      (
        (await db('findings').whereIn('id', before).select('id', 'asset_id', 'cve_id', 'status')) as {
          id: string;
          asset_id: string;
          cve_id: string;
          status: string;
        }[]
      ).map((f) => [Number(f.id), f]),
    );
    // A finding the scan no longer reports, by its CVE on that host, is fixed (the import closed those of its own source).
    const gone = [...states.values()].filter(
      (f) =>
        f.status === 'open' && covered.has(f.asset_id) && f.cve_id !== '' && !reported.has(`${f.asset_id} ${f.cve_id}`),
    );
    if (gone.length > 0)
      await db('findings')
        .whereIn(
          'id',
          gone.map((f) => f.id),
        )
        .update({
          status: 'fixed',
          fixed_at: imported.seenAt,
          fixed_by: `${imported.format} re-scan (cycle ${input.cycleId})`,
        });
    for (const f of gone) f.status = 'fixed';
    // New to this scan, and not a flaw already known on the host under another scanner's plugin.
    const fresh = (
      (await db.raw(
        `select f.asset_id from findings f
         where f.asset_id = any(cast(? as uuid[])) and f.first_seen >= ? and f.status <> 'accepted'
           and (f.cve_id = '' or not exists (
             select 1 from findings o where o.asset_id = f.asset_id and o.cve_id = f.cve_id and o.first_seen < ?))`,
        [[...covered], imported.seenAt, imported.seenAt],
      )) as { rows: { asset_id: string }[] }
    ).rows;
    newlyFound = fresh.length;
    const freshByAsset = new Map<string, number>();
    for (const f of fresh) freshByAsset.set(f.asset_id, (freshByAsset.get(f.asset_id) ?? 0) + 1);

    unscanned = [];
    for (const t of input.targets) {
      const key = targetKey(t.assetId, t.patchId);
      const installed = installs.get(key);
      // Scanners state their start to the second; an install finished within that second counts as before it.
      if (!covered.has(t.assetId) || (installed && Math.floor(installed.getTime() / 1000) * 1000 > started.getTime())) {
        unscanned.push(t);
        continue;
      }
      const ids = inScope.get(key) ?? [];
      const still = ids.filter((id) => states.get(id)?.status === 'open');
      const remediated = ids.filter((id) => states.get(id)?.status === 'fixed');
      const evidence = {
        scan: report.reference,
        scanStartedAt: report.startedAt,
        remediated,
        stillVulnerable: still,
        newlyFoundOnHost: freshByAsset.get(t.assetId) ?? 0,
      };
      rows.push(
        still.length > 0
          ? {
              assetId: t.assetId,
              patchId: t.patchId,
              compliant: false,
              method: 'scan',
              result: 'still_vulnerable',
              message: `the re-scan still reports ${still.length} finding(s) ${t.patchId} should fix`,
              evidence,
            }
          : {
              assetId: t.assetId,
              patchId: t.patchId,
              compliant: true,
              method: 'scan',
              result: 'remediated',
              message: remediated.length
                ? `the re-scan no longer reports ${remediated.length} finding(s) ${t.patchId} fixes`
                : `the re-scan reports nothing ${t.patchId} fixes`,
              evidence,
            },
      );
    }
  }

  // Targets no fresh scan covered: the deployer's word, labelled as such.
  const byPatch = new Map<string, RingTarget[]>();
  for (const t of unscanned) byPatch.set(t.patchId, [...(byPatch.get(t.patchId) ?? []), t]);
  for (const group of byPatch.values()) {
    const first = group[0]!;
    const results = await input.deployerVerify({
      patch: {
        patchId: first.patchId,
        title: first.patchTitle,
        vendorRef: first.vendorRef,
        targetVersion: first.targetVersion,
      },
      targets: group,
    });
    for (const t of group) {
      const r = results.find((x) => x.hostname === t.hostname);
      const compliant = r?.outcome === 'already_compliant';
      const ids = inScope.get(targetKey(t.assetId, t.patchId)) ?? [];
      if (compliant) await closeDeployerReported(db, ids, `deployer-reported (cycle ${input.cycleId})`);
      rows.push({
        assetId: t.assetId,
        patchId: t.patchId,
        compliant,
        method: 'deployer',
        result: compliant ? 'compliant' : 'non_compliant',
        message: `deployer-reported: ${r?.message ?? 'the deployer returned no result for this host'}${
          input.scanner ? ' (the re-scan did not cover this host after its install)' : ''
        }`,
        evidence: { deployerReported: true, ...(r?.evidence ?? {}), findingsClosed: compliant ? ids : [] },
      });
    }
  }

  const deployerReported = rows.filter((r) => r.method === 'deployer').length;
  const stillVulnerable = rows.filter((r) => r.result === 'still_vulnerable');
  return {
    rows,
    summary: {
      total: rows.length,
      compliant: rows.filter((r) => r.compliant).length,
      nonCompliant: rows.filter((r) => !r.compliant).length,
      method: !input.scanner ? 'deployer' : deployerReported > 0 ? 'scan+deployer' : 'scan',
      remediated: rows.reduce((n, r) => n + ((r.evidence['remediated'] as unknown[] | undefined)?.length ?? 0), 0),
      stillVulnerable: stillVulnerable.length,
      newlyFound,
      deployerReported,
      scan: scanRef,
      stillVulnerableHosts: [
        ...new Set(stillVulnerable.map((r) => input.targets.find((t) => t.assetId === r.assetId)!.hostname)),
      ],
    },
  };
}
