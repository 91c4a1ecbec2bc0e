import type { DeployRequest, DiscoveredAsset, HostOutcome, HostResult } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { InputError, NotFoundError, UpstreamError } from '../../kernel/errors.ts';
import {
  HostIndex,
  hostResult,
  inRequestOrder,
  resolveTargets,
  type Resolved as ResolvedTarget,
} from '../kit/support/hosts.ts';
import { pollUntilDone } from '../kit/support/poll.ts';
import { WinRmClient } from '../kit/winrm/client.ts';
import {
  WsusClient,
  builtInGroupIds,
  type InstallationState,
  type WsusComputer,
  type WsusGroup,
  type WsusUpdateRef,
} from './client.ts';
import { wsusConfigSchema, type WsusConfig } from './config.ts';

const builtInGroups = new Set<string>(Object.values(builtInGroupIds));
/** Update lookups kept for cycles still running; the oldest is forgotten first. */
const cachedLookups = 256;

type HostState = 'installed' | 'pendingReboot' | 'notApplicable' | 'failed' | 'pending' | 'unknown';

/** One computer's state for a patch that may be several updates (one per product and architecture). */
function combine(states: InstallationState[] | undefined): HostState {
  const applicable = (states ?? []).filter((s) => s !== 'NotApplicable');
  if (!states?.length) return 'unknown';
  if (applicable.length === 0) return 'notApplicable';
  if (applicable.includes('Failed')) return 'failed';
  if (applicable.every((s) => s === 'Installed')) return 'installed';
  if (applicable.every((s) => s === 'Installed' || s === 'InstalledPendingReboot')) return 'pendingReboot';
  return 'pending';
}

type Resolved = ResolvedTarget<WsusComputer>;

export const wsusConnector = defineConnector({
  id: 'wsus',
  title: 'Windows Server Update Services (over WinRM)',
  configSchema: wsusConfigSchema,
  capabilities: { deployer: true, inventory: true },
  create(config: WsusConfig, deps) {
    const winrm = new WinRmClient({
      endpoint: config.endpoint,
      username: config.username,
      password: config.password,
      requestTimeoutMs: durationMs(config.requestTimeout),
      operationTimeoutSec: 20,
      maxEnvelopeSizeKb: config.maxEnvelopeSizeKb,
    });
    const wsus = new WsusClient(winrm);
    const groupFor = (ring: string) => config.groupTemplate.replaceAll('{ring}', ring);

    /**
     * A patch's updates, looked up once per cycle: deploy, verify and rollback of every ring ask
     * again, and the answer only changes when WSUS synchronises. A lookup that found nothing is
     * not kept, so a cycle retried after the next synchronisation finds the update.
     */
    const lookups = new Map<string, Promise<WsusUpdateRef[]>>();
    function updatesFor(req: DeployRequest): Promise<WsusUpdateRef[]> {
      const key = JSON.stringify([req.cycleId, req.patch.vendorRef]);
      const cached = lookups.get(key);
      if (cached) return cached;
      const lookup = wsus.findUpdates(req.patch.vendorRef, req.signal);
      lookups.set(key, lookup);
      if (lookups.size > cachedLookups) lookups.delete(lookups.keys().next().value!);
      void lookup.then(
        (found) => found.length === 0 && lookups.delete(key),
        () => lookups.delete(key),
      );
      return lookup;
    }

    /** Splits the targets into WSUS computers and hosts WSUS has never heard of, and finds the patch's updates. */
    async function prepare(req: DeployRequest): Promise<{
      resolved: Resolved[];
      unknown: HostResult[];
      updates: WsusUpdateRef[];
      groups: WsusGroup[];
    }> {
      const fleet = await wsus.fleet(req.signal);
      const { resolved, unknown } = resolveTargets(
        req.targets,
        new HostIndex(fleet.computers, (c) => [c.fullDomainName]),
        (t) => `WSUS has no computer named ${t.hostname}; the host has never reported to this WSUS server`,
      );
      const updates = resolved.length ? await updatesFor(req) : [];
      if (resolved.length && updates.length === 0)
        throw new NotFoundError(
          `WSUS has no approved-or-unapproved update for ${req.patch.vendorRef}: it is not synchronised or it is declined`,
        );
      return { resolved, unknown, updates, groups: fleet.groups };
    }

    async function statesOf(
      resolved: Resolved[],
      updates: WsusUpdateRef[],
      signal?: AbortSignal,
    ): Promise<Map<Resolved, HostState>> {
      const byComputer = await wsus.installationStates(updates, signal);
      return new Map(resolved.map((r) => [r, combine(byComputer.get(r.record.id))]));
    }

    function ringGroup(req: DeployRequest, groups: WsusGroup[]): WsusGroup {
      const name = groupFor(req.ring);
      const group = groups.find((g) => g.name.toLowerCase() === name.toLowerCase());
      if (!group)
        throw new InputError(
          `WSUS computer target group "${name}" does not exist; create it in the WSUS console (Computers › Add Computer Group) or change groupTemplate`,
          [{ path: ['connectors', 'wsus', 'groupTemplate'], message: `no group ${name}` }],
        );
      return group;
    }

    /** Approves `action` for the ring's group and waits until every host in `acting` reaches `done` or fails. */
    async function actAndWait(
      req: DeployRequest,
      acting: Resolved[],
      prepared: { updates: WsusUpdateRef[]; groups: WsusGroup[] },
      action: 'Install' | 'Uninstall',
      done: (s: HostState) => boolean,
    ) {
      const group = ringGroup(req, prepared.groups);
      await wsus.addToGroup(
        acting.filter((r) => !r.record.groupIds.includes(group.id)).map((r) => r.record.id),
        group.id,
        req.signal,
      );
      const deadline = new Date(Date.now() + durationMs(config.installDeadline));
      await wsus.approve(prepared.updates, action, group.id, deadline, req.signal);
      req.onProgress?.(
        `approved ${req.patch.vendorRef} for ${action} to WSUS group ${group.name} with deadline ${deadline.toISOString()}; waiting for ${acting.length} client(s) to report`,
      );
      const waited = await pollUntilDone({
        check: async () => {
          const states = await statesOf(acting, prepared.updates, req.signal);
          return {
            done: [...states.values()].every((s) => done(s) || s === 'failed' || s === 'notApplicable'),
            value: states,
          };
        },
        backoff: { initialMs: durationMs(config.pollInterval), maxMs: durationMs(config.maxPollInterval), factor: 1.5 },
        deadlineMs: durationMs(config.installTimeout),
        signal: req.signal,
        onWait: (states) =>
          req.onProgress?.(`${[...states.values()].filter(done).length}/${acting.length} clients done`),
      });
      return { ...waited, deadline };
    }

    const evidence = (updates: WsusUpdateRef[], extra: Record<string, unknown> = {}) => ({
      updates: updates.map((u) => u.updateId),
      ...extra,
    });
    /** InstalledPendingReboot: the files are in place but the computer runs the old code until it restarts. */
    const rebootPending = { rebootPending: true } as const;

    return {
      deployer: {
        async deploy(req) {
          const prepared = await prepare(req);
          const before = await statesOf(prepared.resolved, prepared.updates, req.signal);
          const decided = new Map<string, HostResult>();
          const needing: Resolved[] = [];
          for (const [r, s] of before) {
            if (s === 'installed' || s === 'notApplicable')
              decided.set(
                r.target.hostname,
                hostResult(
                  r.target,
                  'already_compliant',
                  s === 'installed'
                    ? `${req.patch.vendorRef} is already installed`
                    : `${req.patch.vendorRef} does not apply to this computer`,
                  evidence(prepared.updates),
                ),
              );
            else if (s === 'pendingReboot')
              decided.set(
                r.target.hostname,
                hostResult(
                  r.target,
                  'patched',
                  `${req.patch.vendorRef} installed, reboot pending`,
                  evidence(prepared.updates, rebootPending),
                ),
              );
            else if (req.dryRun)
              decided.set(
                r.target.hostname,
                hostResult(
                  r.target,
                  'skipped',
                  `would approve ${req.patch.vendorRef} for install (WSUS reports ${s})`,
                  evidence(prepared.updates),
                ),
              );
            else needing.push(r);
          }
          if (needing.length) {
            const waited = await actAndWait(
              req,
              needing,
              prepared,
              'Install',
              (s) => s === 'installed' || s === 'pendingReboot',
            );
            const ev = (extra: Record<string, unknown> = {}) =>
              evidence(prepared.updates, {
                group: groupFor(req.ring),
                deadline: waited.deadline.toISOString(),
                ...extra,
              });
            for (const r of needing) {
              const s = waited.value.get(r) ?? 'unknown';
              const [outcome, message, extra] = ((): [HostOutcome, string, Record<string, unknown>?] => {
                switch (s) {
                  case 'installed':
                    return ['patched', `installed ${req.patch.vendorRef}`];
                  case 'pendingReboot':
                    return ['patched', `${req.patch.vendorRef} installed, reboot pending`, rebootPending];
                  case 'notApplicable':
                    return ['already_compliant', `${req.patch.vendorRef} does not apply to this computer`];
                  case 'failed':
                    return [
                      'failed',
                      `the WSUS client reported that installing ${req.patch.vendorRef} failed; see WindowsUpdate.log on the host`,
                    ];
                  default:
                    return [
                      'failed',
                      `not installed within ${config.installTimeout} (WSUS reports ${s}); clients install at their next detection cycle, and those set only to notify at the deadline ${waited.deadline.toISOString()}`,
                    ];
                }
              })();
              decided.set(r.target.hostname, hostResult(r.target, outcome, message, ev(extra)));
            }
          }
          return inRequestOrder(req.targets, [...prepared.unknown, ...decided.values()]);
        },

        async verify(req) {
          const prepared = await prepare(req);
          const states = await statesOf(prepared.resolved, prepared.updates, req.signal);
          const decided = new Map<string, HostResult>();
          for (const [r, s] of states) {
            const result =
              s === 'installed' || s === 'notApplicable'
                ? hostResult(
                    r.target,
                    'already_compliant',
                    `WSUS reports ${req.patch.vendorRef} ${s}`,
                    evidence(prepared.updates),
                  )
                : s === 'pendingReboot'
                  ? // Not compliant: until the restart the vulnerable code is what runs.
                    hostResult(
                      r.target,
                      'failed',
                      'installed, reboot pending',
                      evidence(prepared.updates, rebootPending),
                    )
                  : hostResult(
                      r.target,
                      'failed',
                      `WSUS reports ${req.patch.vendorRef} ${s}, not installed`,
                      evidence(prepared.updates),
                    );
            decided.set(r.target.hostname, result);
          }
          return inRequestOrder(req.targets, [...prepared.unknown, ...decided.values()]);
        },

        async rollback(req) {
          const prepared = await prepare(req);
          const before = await statesOf(prepared.resolved, prepared.updates, req.signal);
          const decided = new Map<string, HostResult>();
          const installed: Resolved[] = [];
          for (const [r, s] of before) {
            if (s === 'installed' || s === 'pendingReboot') installed.push(r);
            else
              decided.set(
                r.target.hostname,
                hostResult(
                  r.target,
                  req.dryRun ? 'skipped' : 'already_compliant',
                  `${req.patch.vendorRef} is not installed; nothing to roll back`,
                  evidence(prepared.updates),
                ),
              );
          }
          if (req.dryRun) {
            for (const r of installed)
              decided.set(
                r.target.hostname,
                hostResult(
                  r.target,
                  'skipped',
                  `would approve ${req.patch.vendorRef} for uninstall`,
                  evidence(prepared.updates),
                ),
              );
            return inRequestOrder(req.targets, [...prepared.unknown, ...decided.values()]);
          }
          if (installed.length) {
            const ev = evidence(prepared.updates, { group: groupFor(req.ring) });
            try {
              const waited = await actAndWait(
                req,
                installed,
                prepared,
                'Uninstall',
                (s) => s !== 'installed' && s !== 'pendingReboot',
              );
              for (const r of installed) {
                const s = waited.value.get(r) ?? 'unknown';
                const reverted = s !== 'installed' && s !== 'pendingReboot' && s !== 'failed';
                decided.set(
                  r.target.hostname,
                  hostResult(
                    r.target,
                    reverted ? 'patched' : 'failed',
                    reverted
                      ? `uninstalled ${req.patch.vendorRef}`
                      : `still ${s} after ${config.installTimeout}; the client has not uninstalled ${req.patch.vendorRef}`,
                    evidence(prepared.updates, { group: groupFor(req.ring), deadline: waited.deadline.toISOString() }),
                  ),
                );
              }
            } catch (err) {
              // Many updates cannot be uninstalled. Then the most WSUS can do is stop further installs.
              if (!(err instanceof UpstreamError && /cannot be uninstalled/.test(err.message))) throw err;
              await wsus.removeApprovals(prepared.updates, ringGroup(req, prepared.groups).id, req.signal);
              for (const r of installed)
                decided.set(
                  r.target.hostname,
                  hostResult(
                    r.target,
                    'failed',
                    `${req.patch.vendorRef} cannot be uninstalled through WSUS; its approval was removed so no other computer in the group installs it`,
                    ev,
                  ),
                );
            }
          }
          return inRequestOrder(req.targets, [...prepared.unknown, ...decided.values()]);
        },
      },

      inventory: {
        async listAssets(): Promise<DiscoveredAsset[]> {
          const fleet = await wsus.fleet();
          const names = new Map(fleet.groups.map((g) => [g.id, g.name]));
          return fleet.computers.map((c) => {
            const groups = c.groupIds
              .filter((id) => !builtInGroups.has(id))
              .map((id) => names.get(id))
              .filter((n): n is string => !!n);
            return {
              hostname: c.fullDomainName.split('.')[0]!,
              fqdn: c.fullDomainName,
              ips: c.ipAddress ? [c.ipAddress] : [],
              platform: 'windows',
              patchGroup: groups[0],
              tags: groups,
              vars: { wsusComputerId: c.id, osDescription: c.osDescription ?? null },
            };
          });
        },
      },

      async testConnection() {
        try {
          const server = await wsus.serverName();
          return { ok: true, message: `WSUS ${server} reached through WinRM at ${config.endpoint}` };
        } catch (err) {
          deps.logger.warn('wsus connection test failed', { err: (err as Error).message });
          return { ok: false, message: (err as Error).message };
        }
      },
    };
  },
});
