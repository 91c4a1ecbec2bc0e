import type { DeployRequest, DiscoveredAsset, HostResult } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { InputError, NotFoundError } from '../../kernel/errors.ts';
import {
  distinctTargets,
  HostIndex,
  hostResult,
  inRequestOrder,
  resolveTargets,
  type Resolved as ResolvedTarget,
} from '../kit/support/hosts.ts';
import { pollUntilDone } from '../kit/support/poll.ts';
import { AdminServiceClient, type ComplianceRow, type SmsSystem, type SoftwareUpdate } from './client.ts';
import { sccmConfigSchema, type SccmConfig } from './config.ts';

type HostState = 'installed' | 'notRequired' | 'required' | 'failed' | 'unknown';
const generalFailure = 6;

/** One device's state for a patch that may be several software updates (per product and architecture). */
function combine(rows: ComplianceRow[]): HostState {
  if (rows.length === 0 || rows.every((r) => r.Status === 0)) return 'unknown';
  const applicable = rows.filter((r) => r.Status !== 1);
  if (applicable.length === 0) return 'notRequired';
  if (applicable.some((r) => r.Status === 2 && r.LastEnforcementMessageID === generalFailure)) return 'failed';
  if (applicable.every((r) => r.Status === 3)) return 'installed';
  return 'required';
}

const describe = {
  installed: 'installed',
  notRequired: 'not required on this device',
  required: 'required and not installed',
  failed: 'failed to install (general failure)',
  unknown: 'not yet reported by the client',
} as const;

type Resolved = ResolvedTarget<SmsSystem>;

export const sccmConnector = defineConnector({
  id: 'sccm',
  title: 'Microsoft Configuration Manager (AdminService)',
  configSchema: sccmConfigSchema,
  capabilities: { deployer: true, inventory: true },
  create(config: SccmConfig) {
    const api = new AdminServiceClient({
      url: config.url,
      username: config.username,
      password: config.password,
      timeoutMs: durationMs(config.requestTimeout),
    });
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
    ): Promise<Map<Resolved, HostState>> {
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

    /** Reuses Patchflow's software update group and deployment for this patch and ring, creating them once. */
    async function ensureDeployment(
      req: DeployRequest,
      updates: SoftwareUpdate[],
      collectionId: string,
    ): Promise<number> {
      const cis = updates.map((u) => u.CI_ID);
      const groupId = await api.findOrCreateUpdateGroup(
        groupName(req),
        `Created by Patchflow for ${req.patch.title}`,
        cis,
        req.signal,
      );
      const existing = (await api.findAssignments(deploymentName(req), req.signal)).find(
        (a) => a.TargetCollectionID === collectionId,
      );
      if (existing) return existing.AssignmentID;
      const now = new Date().toISOString();
      const created = await api.createAssignment(
        {
          AssignmentName: deploymentName(req),
          AssignmentDescription: `Patchflow cycle ${req.cycleId}, ring ${req.ring}`,
          AssignedCIs: cis,
          AssignedUpdateGroup: groupId,
          TargetCollectionID: collectionId,
          // Required (apply) deployment, effective now with the deadline now: install at the next evaluation.
          AssignmentAction: 2,
          AssignmentType: 1,
          DesiredConfigType: 1,
          Enabled: true,
          StartTime: now,
          EnforcementDeadline: now,
          NotifyUser: false,
          OverrideServiceWindows: false,
          RebootOutsideOfServiceWindows: false,
          SuppressReboot: 0,
          UseGMTTimes: true,
          LocaleID: 1033,
        },
        req.signal,
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
          const evidence = (extra: Record<string, unknown> = {}) => ({
            ciIds: prepared.updates.map((u) => u.CI_ID),
            collectionId,
            ...extra,
          });
          const needing: Resolved[] = [];
          for (const [r, s] of before) {
            if (s === 'installed' || s === 'notRequired')
              decided.push(
                hostResult(r.target, 'already_compliant', `${req.patch.vendorRef} is ${describe[s]}`, evidence()),
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
                  `would deploy ${req.patch.vendorRef} (currently ${describe[s]})`,
                  evidence(),
                ),
              );
            else needing.push(r);
          }
          if (needing.length) {
            const assignmentId = await ensureDeployment(req, prepared.updates, collectionId);
            req.onProgress?.(
              `ConfigMgr deployment ${assignmentId} targets collection ${collectionId}; waiting for ${needing.length} device(s)`,
            );
            const waited = await pollUntilDone({
              check: async () => {
                const states = await statesOf(needing, prepared.updates, req.signal);
                return {
                  done: [...states.values()].every((s) => s === 'installed' || s === 'notRequired' || s === 'failed'),
                  value: states,
                };
              },
              backoff: {
                initialMs: durationMs(config.pollInterval),
                maxMs: durationMs(config.maxPollInterval),
                factor: 1.5,
              },
              deadlineMs: durationMs(config.installTimeout),
              signal: req.signal,
              onWait: (states) =>
                req.onProgress?.(
                  `${[...states.values()].filter((s) => s === 'installed').length}/${needing.length} devices installed`,
                ),
            });
            for (const r of needing) {
              const s = waited.value.get(r) ?? 'unknown';
              const ev = evidence({ assignmentId });
              if (s === 'installed')
                decided.push(hostResult(r.target, 'patched', `installed ${req.patch.vendorRef}`, ev));
              else if (s === 'notRequired')
                decided.push(
                  hostResult(
                    r.target,
                    'already_compliant',
                    `${req.patch.vendorRef} is not required on this device`,
                    ev,
                  ),
                );
              else if (s === 'failed')
                decided.push(
                  hostResult(
                    r.target,
                    'failed',
                    `the ConfigMgr client reported that installing ${req.patch.vendorRef} failed (state 402/6, general failure); see WUAHandler.log and UpdatesDeployment.log`,
                    ev,
                  ),
                );
              else
                decided.push(
                  hostResult(
                    r.target,
                    'failed',
                    `${describe[s]} after ${config.installTimeout}; devices install at their next software update evaluation`,
                    ev,
                  ),
                );
            }
          }
          return inRequestOrder(req.targets, decided);
        },

        async verify(req) {
          const prepared = await prepare(req);
          const decided: HostResult[] = [...prepared.unknown];
          for (const [r, s] of await statesOf(prepared.resolved, prepared.updates, req.signal)) {
            const compliant = s === 'installed' || s === 'notRequired';
            decided.push(
              hostResult(
                r.target,
                compliant ? 'already_compliant' : 'failed',
                `ConfigMgr reports ${req.patch.vendorRef} ${describe[s]}`,
                { ciIds: prepared.updates.map((u) => u.CI_ID) },
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
