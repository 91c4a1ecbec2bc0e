import { durationMs } from '../../kernel/duration.ts';
import { InputError, UpstreamError } from '../../kernel/errors.ts';
import { pollUntilDone, type Backoff } from '../kit/support/poll.ts';
import type { AdminServiceClient, DistributionStatus, UpdatesPackage } from './client.ts';
import type { SccmConfig } from './config.ts';

const packagePath = (field: string) => ['connectors', 'sccm', 'package', field];

/** SMS_PackageStatusDistPointsSummarizer.State, as the SMS Provider reference names the values. */
const stateNames = [
  'INSTALLED',
  'INSTALL_PENDING',
  'INSTALL_RETRYING',
  'INSTALL_FAILED',
  'REMOVAL_PENDING',
  'REMOVAL_RETRYING',
  'REMOVAL_FAILED',
  'CONTENT_UPDATING',
  'CONTENT_MONITORING',
];
const installed = 0;
/** Failed, or being taken off the distribution point: the content will not arrive unless someone acts. */
const lost = new Set([3, 4, 5, 6]);

/** The server in a NAL path such as `["Display=\\DP01.corp.example\"]MSWNET:["SMS_SITE=PS1"]\\DP01.corp.example\`. */
export function serverOf(nalPath: string): string {
  return /\\\\([^\\"\]]+)\\?$/.exec(nalPath)?.[1] ?? nalPath;
}

function siteCodeOf(nalPath: string): string {
  const code = /SMS_SITE=([A-Z0-9]{3})/i.exec(nalPath)?.[1];
  if (!code) throw new UpstreamError(`the NAL path ${nalPath} names no site (SMS_SITE=…)`, { retryable: false });
  return code.toUpperCase();
}

export interface Distributed {
  packageId: string;
  distributionPoints: string[];
}

/**
 * Gets the updates' files to where clients download them: into the configured deployment package,
 * onto the distribution points of its groups, and waits until every one of those distribution
 * points reports the package INSTALLED. A deployment created before that only leaves clients
 * waiting for content until its deadline passes.
 */
export async function distributeContent(opts: {
  api: AdminServiceClient;
  config: SccmConfig;
  ciIds: number[];
  vendorRef: string;
  backoff: Backoff;
  onProgress?: ((note: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}): Promise<Distributed> {
  const { api, config, signal } = opts;
  const pkg = await deploymentPackage(api, config, signal);
  await ensureContent(api, config, pkg, opts.ciIds, opts.vendorRef, signal);
  const targets = await ensureOnDistributionPoints(api, config, pkg, signal);

  const of = (rows: DistributionStatus[]) => {
    const byDp = new Map(rows.map((r) => [r.ServerNALPath.toLowerCase(), r.State]));
    // A distribution point the summarizer has not reported on yet is still on its way.
    return targets.map((nal) => ({ nal, state: byDp.get(nal.toLowerCase()) ?? 1 }));
  };
  const waited = await pollUntilDone({
    check: async () => {
      const states = of(await api.distributionStatus(pkg.PackageID, signal));
      return { done: states.every((s) => s.state === installed || lost.has(s.state)), value: states };
    },
    backoff: opts.backoff,
    deadlineMs: durationMs(config.distributionTimeout),
    signal,
    onWait: (states) =>
      opts.onProgress?.(
        `package ${pkg.PackageID} is on ${states.filter((s) => s.state === installed).length}/${states.length} distribution points`,
      ),
  });
  const describe = (states: { nal: string; state: number }[]) =>
    states.map((s) => `${serverOf(s.nal)} (${stateNames[s.state] ?? `state ${s.state}`})`).join(', ');
  const failed = waited.value.filter((s) => lost.has(s.state));
  if (failed.length)
    throw new UpstreamError(
      `the content of package ${pkg.PackageID} did not reach ${describe(failed)}; see distmgr.log and PkgXferMgr.log on the site server, then redistribute the package`,
      { retryable: false },
    );
  const pending = waited.value.filter((s) => s.state !== installed);
  if (pending.length)
    throw new UpstreamError(
      `package ${pkg.PackageID} is not yet on ${describe(pending)} after ${config.distributionTimeout} (distributionTimeout); no deployment was created`,
    );
  return { packageId: pkg.PackageID, distributionPoints: targets.map(serverOf) };
}

/** The configured package, or the one Patchflow creates on the configured share (found again by its name). */
async function deploymentPackage(
  api: AdminServiceClient,
  config: SccmConfig,
  signal: AbortSignal | undefined,
): Promise<UpdatesPackage> {
  const { packageId, sourcePath } = config.package;
  if (packageId) {
    const found = await api.updatesPackage({ PackageID: packageId }, signal);
    if (!found)
      throw new InputError(`ConfigMgr has no software updates package ${packageId}`, [
        { path: packagePath('packageId'), message: 'no such SMS_SoftwareUpdatesPackage' },
      ]);
    return found;
  }
  const name = `${config.namePrefix} software updates`;
  const existing = await api.updatesPackage({ Name: name }, signal);
  if (!existing) return api.createUpdatesPackage(name, 'Software updates deployed by Patchflow', sourcePath!, signal);
  if (existing.PkgSourcePath.toLowerCase() !== sourcePath!.toLowerCase())
    throw new InputError(
      `the package "${name}" (${existing.PackageID}) has its source at ${existing.PkgSourcePath}, not ${sourcePath}`,
      [{ path: packagePath('sourcePath'), message: 'differs from the existing package' }],
    );
  return existing;
}

/** Adds to the package the content it lacks, from the staging share; the AdminService cannot download it. */
async function ensureContent(
  api: AdminServiceClient,
  config: SccmConfig,
  pkg: UpdatesPackage,
  ciIds: number[],
  vendorRef: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const wanted = [...new Set((await api.contentOf(ciIds, signal)).map((c) => c.ContentID))];
  const held = new Set((await api.packageContent(pkg.PackageID, signal)).map((c) => c.ContentID));
  const missing = wanted.filter((id) => !held.has(id));
  if (missing.length === 0) return;
  const staging = config.package.contentSourcePath;
  if (!staging)
    throw new InputError(
      `package ${pkg.PackageID} does not hold the content of ${vendorRef} (content ${missing.join(', ')}); download it into the package (console: Download; PowerShell: Save-CMSoftwareUpdate) or set contentSourcePath to a share where it is staged`,
      [{ path: packagePath('contentSourcePath'), message: 'needed: the package lacks the update content' }],
    );
  const root = staging.replace(/\\+$/, '');
  await api.addUpdateContent(
    pkg.PackageID,
    missing,
    missing.map((id) => `${root}\\${id}`),
    signal,
  );
}

/** The distribution points the package must be on: its groups' members (assigned where missing), else those it is on. */
async function ensureOnDistributionPoints(
  api: AdminServiceClient,
  config: SccmConfig,
  pkg: UpdatesPackage,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const names = config.package.distributionPointGroups;
  const assigned = (await api.packageDistributionPoints(pkg.PackageID, signal)).map((d) => d.ServerNALPath);
  if (names.length === 0) {
    if (assigned.length === 0)
      throw new InputError(
        `package ${pkg.PackageID} is on no distribution point, so clients could not download ${pkg.Name}; name the distribution point groups to distribute it to`,
        [{ path: packagePath('distributionPointGroups'), message: 'needed: the package is on no distribution point' }],
      );
    return assigned;
  }
  const groups = await api.distributionPointGroups(names, signal);
  const unknown = names.filter((n) => !groups.some((g) => g.Name.toLowerCase() === n.toLowerCase()));
  if (unknown.length)
    throw new InputError(`ConfigMgr has no distribution point group named ${unknown.map((n) => `"${n}"`).join(', ')}`, [
      { path: packagePath('distributionPointGroups'), message: 'unknown distribution point group' },
    ]);
  const members = [
    ...new Map(
      (
        await api.distributionPointGroupMembers(
          groups.map((g) => g.GroupID),
          signal,
        )
      ).map((m) => [m.DPNALPath.toLowerCase(), m.DPNALPath]),
    ).values(),
  ];
  if (members.length === 0)
    throw new InputError(`the distribution point groups ${names.join(', ')} have no members`, [
      { path: packagePath('distributionPointGroups'), message: 'no distribution point in these groups' },
    ]);
  const on = new Set(assigned.map((n) => n.toLowerCase()));
  for (const nal of members)
    if (!on.has(nal.toLowerCase())) await api.assignToDistributionPoint(pkg.PackageID, nal, siteCodeOf(nal), signal);
  return members;
}
