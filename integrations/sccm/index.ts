import type { DeployRequest, DiscoveredAsset, HostResult } from '../contract/index.ts';
import { readCaFile } from '../kit/support/tls.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { InputError, NotFoundError, UpstreamError } from '../../kernel/errors.ts';
import {
  distinctTargets,
  HostIndex,
  hostResult,
  inRequestOrder,
  resolveTargets,
  type Resolved as ResolvedTarget,
} from '../kit/support/hosts.ts';
import { pollUntilDone, type Backoff } from '../kit/support/poll.ts';
import { adminServiceAuth } from './auth.ts';
import { AdminServiceClient, type ComplianceRow, type SmsSystem, type SoftwareUpdate } from './client.ts';
import { sccmConfigSchema, type SccmConfig } from './config.ts';
import { distributeContent } from './distribution.ts';

type HostState = 'installed' | 'rebootPending' | 'notRequired' | 'required' | 'failed' | 'unknown';

/**
 * State messages of topic 402 (STATE_TOPICTYPE_SUM_CI_ENFORCEMENT) that SMS_UpdateComplianceStatus
 * carries as LastEnforcementMessageID: 9 is "Pending system restart"; 6 "General failure", 11
 * "Failed to install the update" and 14 "Failed to download the update" end the attempt.
 * learn.microsoft.com/mem/configmgr/core/plan-design/hierarchy/state-messages
 */
const pendingRestart = 9;
const enforcementFailures = new Set([6, 11, 14]);

interface DeviceState {
  state: HostState;
  /** The client's own words for a failure, e.g. "402/11 Failed to install the update". */
  enforcement?: string | undefined;
}

/** One device's state for a patch that may be several software updates (per product and architecture). */
function combine(rows: ComplianceRow[]): DeviceState {
  if (rows.length === 0 || rows.every((r) => r.Status === 0)) return { state: 'unknown' };
  const applicable = rows.filter((r) => r.Status !== 1);
  if (applicable.length === 0) return { state: 'notRequired' };
  const failed = applicable.find((r) => r.Status !== 3 && enforcementFailures.has(r.LastEnforcementMessageID ?? 0));
  if (failed)
    return {
      state: 'failed',
      enforcement: `402/${failed.LastEnforcementMessageID} ${failed.LastEnforcementMessageName ?? ''}`.trim(),
    };
  // An update installed but waiting for a restart reports "Pending system restart" until the restart.
  const done = (r: ComplianceRow) => r.Status === 3 || r.LastEnforcementMessageID === pendingRestart;
  if (applicable.some((r) => r.LastEnforcementMessageID === pendingRestart))
    return { state: applicable.every(done) ? 'rebootPending' : 'required' };
  return { state: applicable.every((r) => r.Status === 3) ? 'installed' : 'required' };
}

const describe = {
  installed: 'installed',
  rebootPending: 'installed, reboot pending',
  notRequired: 'not required on this device',
  required: 'required and not installed',
  failed: 'failed to install',
  unknown: 'not yet reported by the client',
} as const;

/**
 * SuppressReboot of a deployment (SMS_CIAssignmentBaseClass, a bit field): bit 0 suppresses the
 * restart on workstations, bit 1 on servers. ConfigMgr restarts only when an installed update
 * requires it; a deployment cannot ask for a restart that no update needs, so `always` deploys as
 * `if-required` does.
 */
const suppressRebootFor = { never: 0b11, 'if-required': 0, always: 0 } as const;

type Resolved = ResolvedTarget<SmsSystem>;

export const sccmConnector = defineConnector({
  id: 'sccm',
  title: 'Microsoft Configuration Manager (AdminService)',
  configSchema: sccmConfigSchema,
  capabilities: { deployer: true, inventory: true },
  create(config: SccmConfig) {
    const api = new AdminServiceClient({
      url: config.url,
      auth: adminServiceAuth(config),
      ca: readCaFile(config.caFile, 'sccm', 'AdminService'),
      timeoutMs: durationMs(config.requestTimeout),
    });
    const backoff: Backoff = {
      initialMs: durationMs(config.pollInterval),
      maxMs: durationMs(config.maxPollInterval),
      factor: 1.5,
    };
    const article = (vendorRef: string) => vendorRef.replace(/^KB/i, '');
    const groupName = (req: DeployRequest) => `${config.namePrefix} ${req.patch.vendorRef}`;
    const deploymentName = (req: DeployRequest) => `${config.namePrefix} ${req.patch.vendorRef} ${req.ring}`;

    async function prepare(
      req: DeployRequest,
    ): Promise<{ resolved: Resolved[]; unknown: HostResult[]; updates: SoftwareUpdate[] }> {
      const targets = distinctTargets(req.targets);
      const systems = targets.length
        ? await api.systemsNamed([...new Set(targets.map((t) => t.hostname.split('.')[0]!))], req.signal)
        : [];
      const { resolved, unknown } = resolveTargets(
        targets,
        new HostIndex(systems, (s) => [s.Name, ...(s.ResourceNames ?? [])]),
        (t) => `ConfigMgr has no device named ${t.hostname}; it has no client or has not been discovered`,
      );
      const updates = resolved.length
        ? (await api.updatesForArticle(article(req.patch.vendorRef), req.signal)).filter((u) => u.IsDeployable)
        : [];
      if (resolved.length && updates.length === 0)
        throw new NotFoundError(
          `ConfigMgr has no deployable software update for article ${article(req.patch.vendorRef)}; synchronise the software update point or check that it is not expired`,
        );
      return { resolved, unknown, updates };
    }

    async function statesOf(
      resolved: Resolved[],
      updates: SoftwareUpdate[],
      signal?: AbortSignal,
    ): Promise<Map<Resolved, DeviceState>> {
      const rows = await api.compliance(
        updates.map((u) => u.CI_ID),
        resolved.map((r) => r.record.ResourceId),
        signal,
      );
      return new Map(resolved.map((r) => [r, combine(rows.filter((row) => row.MachineID === r.record.ResourceId))]));
    }

    function collectionFor(ring: string): string {
      const id = config.collections[ring];
      if (!id)
        throw new InputError(`no ConfigMgr collection is configured for ring "${ring}"`, [
          { path: ['connectors', 'sccm', 'collections', ring], message: 'missing collection ID' },
        ]);
      return id;
    }

    /**
     * Reuses Patchflow's software update group and its deployment (SMS_UpdateGroupAssignment) to
     * this ring's collection, creating them once; a deployment made under another reboot policy is
     * replaced, since its SuppressReboot is what clients obey.
     */
    async function ensureDeployment(
      req: DeployRequest,
      updates: SoftwareUpdate[],
      collectionId: string,
      suppressReboot: number,
    ): Promise<number> {
      const cis = updates.map((u) => u.CI_ID);
      const groupId = await api.findOrCreateUpdateGroup(
        groupName(req),
        `Created by Patchflow for ${req.patch.title}`,
        cis,
        req.signal,
      );
      const mine = async () =>
        (await api.findAssignments(deploymentName(req), req.signal)).filter(
          (a) => a.TargetCollectionID === collectionId,
        );
      const existing = (await mine())[0];
      if (existing?.SuppressReboot === suppressReboot && existing.AssignedUpdateGroup === groupId)
        return existing.AssignmentID;
      if (existing) await api.deleteAssignment(existing.AssignmentID, req.signal);
      const now = new Date().toISOString();
      await api.createAssignment(
        {
          AssignmentName: deploymentName(req),
          AssignmentDescription: `Patchflow cycle ${req.cycleId}, ring ${req.ring}`,
          AssignedUpdateGroup: groupId,
          AssignedCIs: cis,
          TargetCollectionID: collectionId,
          // A required (DesiredConfigType 1) update-group deployment (AssignmentType 5) that applies
          // (AssignmentAction 2) the updates, available now with the deadline now: clients install
          // at their next evaluation, inside their maintenance windows.
          AssignmentAction: 2,
          AssignmentType: 5,
          DesiredConfigType: 1,
          Enabled: true,
          StartTime: now,
          EnforcementDeadline: now,
          UseGMTTimes: true,
          NotifyUser: false,
          UserUIExperience: false,
          OverrideServiceWindows: false,
          RebootOutsideOfServiceWindows: false,
          SuppressReboot: suppressReboot,
        },
        req.signal,
      );
      const created = (await mine())[0];
      if (!created)
        throw new UpstreamError(
          `AdminService accepted the deployment "${deploymentName(req)}" but does not list it for collection ${collectionId}`,
          { retryable: false },
        );
      return created.AssignmentID;
    }

    return {
      deployer: {
        async deploy(req) {
          const prepared = await prepare(req);
          const decided: HostResult[] = [...prepared.unknown];
          if (prepared.resolved.length === 0) return inRequestOrder(req.targets, decided);
          const collectionId = collectionFor(req.ring);
          const members = new Set((await api.members(collectionId, req.signal)).map((m) => m.ResourceID));
          const before = await statesOf(prepared.resolved, prepared.updates, req.signal);
          const ciIds = prepared.updates.map((u) => u.CI_ID);
          const evidence = (extra: Record<string, unknown> = {}) => ({ ciIds, collectionId, ...extra });
          const needing: Resolved[] = [];
          for (const [r, { state }] of before) {
            if (state === 'installed' || state === 'notRequired')
              decided.push(
                hostResult(r.target, 'already_compliant', `${req.patch.vendorRef} is ${describe[state]}`, evidence()),
              );
            else if (state === 'rebootPending')
              decided.push(
                hostResult(
                  r.target,
                  'patched',
                  `${req.patch.vendorRef} is installed and waits for a restart`,
                  evidence({ rebootPending: true }),
                ),
              );
            else if (!members.has(r.record.ResourceId))
              decided.push(
                hostResult(
                  r.target,
                  'skipped',
                  `not a member of collection ${collectionId}, which ring ${req.ring} deploys to`,
                  evidence(),
                ),
              );
            else if (req.dryRun)
              decided.push(
                hostResult(
                  r.target,
                  'skipped',
                  `would deploy ${req.patch.vendorRef} (currently ${describe[state]})`,
                  evidence(),
                ),
              );
            else needing.push(r);
          }
          if (needing.length === 0) return inRequestOrder(req.targets, decided);

          const reboot = req.reboot ?? 'if-required';
          const suppressReboot = suppressRebootFor[reboot];
          const content = await distributeContent({
            api,
            config,
            ciIds,
            vendorRef: req.patch.vendorRef,
            backoff,
            onProgress: req.onProgress,
            signal: req.signal,
          });
          const assignmentId = await ensureDeployment(req, prepared.updates, collectionId, suppressReboot);
          req.onProgress?.(
            `ConfigMgr deployment ${assignmentId} targets collection ${collectionId}; waiting for ${needing.length} device(s)`,
          );
          // With the restart suppressed a pending restart is where the device stays; otherwise the
          // client restarts on its own and the wait goes on until it has.
          const settled = (s: HostState) =>
            s === 'installed' ||
            s === 'notRequired' ||
            s === 'failed' ||
            (s === 'rebootPending' && suppressReboot !== 0);
          const waited = await pollUntilDone({
            check: async () => {
              const states = await statesOf(needing, prepared.updates, req.signal);
              return { done: [...states.values()].every((s) => settled(s.state)), value: states };
            },
            backoff,
            deadlineMs: durationMs(config.installTimeout),
            signal: req.signal,
            onWait: (states) =>
              req.onProgress?.(
                `${[...states.values()].filter((s) => s.state === 'installed').length}/${needing.length} devices installed`,
              ),
          });
          for (const r of needing) {
            const { state, enforcement } = waited.value.get(r) ?? { state: 'unknown' };
            const ev = evidence({
              assignmentId,
              packageId: content.packageId,
              distributionPoints: content.distributionPoints,
              suppressReboot,
            });
            if (state === 'installed')
              decided.push(hostResult(r.target, 'patched', `installed ${req.patch.vendorRef}`, ev));
            else if (state === 'rebootPending')
              decided.push(
                hostResult(
                  r.target,
                  'patched',
                  suppressReboot
                    ? `installed ${req.patch.vendorRef}; reboot pending: reboot policy "never" has ConfigMgr suppress the restart, so the host needs one in its next window`
                    : `installed ${req.patch.vendorRef}; reboot pending: the client has not restarted within ${config.installTimeout} (it restarts per its computer restart settings and maintenance windows)`,
                  { ...ev, rebootPending: true },
                ),
              );
            else if (state === 'notRequired')
              decided.push(
                hostResult(r.target, 'already_compliant', `${req.patch.vendorRef} is not required on this device`, ev),
              );
            else if (state === 'failed')
              decided.push(
                hostResult(
                  r.target,
                  'failed',
                  `the ConfigMgr client reported that installing ${req.patch.vendorRef} failed (state ${enforcement}); see WUAHandler.log and UpdatesDeployment.log`,
                  ev,
                ),
              );
            else
              decided.push(
                hostResult(
                  r.target,
                  'failed',
                  `${describe[state]} after ${config.installTimeout}; devices install at their next software update evaluation`,
                  ev,
                ),
              );
          }
          return inRequestOrder(req.targets, decided);
        },

        /** Compliant means installed and restarted: a pending restart leaves the old binaries running. */
        async verify(req) {
          const prepared = await prepare(req);
          const decided: HostResult[] = [...prepared.unknown];
          const ciIds = prepared.updates.map((u) => u.CI_ID);
          for (const [r, { state }] of await statesOf(prepared.resolved, prepared.updates, req.signal)) {
            const compliant = state === 'installed' || state === 'notRequired';
            decided.push(
              hostResult(
                r.target,
                compliant ? 'already_compliant' : 'failed',
                `ConfigMgr reports ${req.patch.vendorRef} ${describe[state]}`,
                state === 'rebootPending' ? { ciIds, rebootPending: true } : { ciIds },
              ),
            );
          }
          return inRequestOrder(req.targets, decided);
        },

        /** ConfigMgr cannot take a software update off a device; the most it can do is stop deploying it. */
        async rollback(req) {
          const targets = distinctTargets(req.targets);
          if (targets.length === 0) return [];
          const deployments = await api.findAssignments(deploymentName(req), req.signal);
          if (!req.dryRun) for (const d of deployments) await api.deleteAssignment(d.AssignmentID, req.signal);
          const removed = deployments.length
            ? `deployment ${deployments.map((d) => d.AssignmentID).join(', ')} ${req.dryRun ? 'would be' : 'was'} removed so no further device installs it`
            : 'there was no Patchflow deployment to remove';
          return targets.map((t) =>
            hostResult(
              t,
              'skipped',
              `ConfigMgr cannot uninstall software updates; ${removed}. Uninstall ${req.patch.vendorRef} with wusa /uninstall or a task sequence if it must come off`,
              { removedAssignments: deployments.map((d) => d.AssignmentID) },
            ),
          );
        },
      },

      inventory: {
        async listAssets(): Promise<DiscoveredAsset[]> {
          const [devices, systems, collections, members] = await Promise.all([
            api.devices(),
            api.allSystems(),
            api.collections(),
            api.members(undefined),
          ]);
          const systemById = new Map(systems.map((s) => [s.ResourceId, s]));
          const collectionName = new Map(collections.map((c) => [c.CollectionID, c.Name]));
          const ringByCollection = new Map(Object.entries(config.collections).map(([ring, id]) => [id, ring]));
          return devices.map((d) => {
            const system = systemById.get(d.MachineId);
            const ids = members.filter((m) => m.ResourceID === d.MachineId).map((m) => m.CollectionID);
            return {
              hostname: d.Name,
              fqdn: system?.ResourceNames?.[0],
              ips: system?.IPAddresses ?? [],
              platform: 'windows',
              patchGroup: ids.map((id) => ringByCollection.get(id)).find((r) => r !== undefined),
              // Built-in collections (SMS00001 "All Systems" and friends) say nothing about the device.
              tags: ids.filter((id) => !id.startsWith('SMS')).map((id) => collectionName.get(id) ?? id),
              vars: { sccmResourceId: d.MachineId, operatingSystem: system?.OperatingSystemNameandVersion ?? null },
            };
          });
        },
      },

      async testConnection() {
        try {
          const [site] = await api.site();
          return {
            ok: true,
            message: site
              ? `ConfigMgr site ${site.SiteCode} (${site.SiteName}, ${site.Version}) at ${config.url}`
              : `AdminService at ${config.url} answered`,
          };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
    };
  },
});
