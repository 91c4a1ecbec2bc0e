import { isIP } from 'node:net';
import type { DeployTarget, ScanReport, ScanRequest } from '../contract/index.ts';
import { readCaFile } from '../kit/support/tls.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { InputError, UpstreamError } from '../../kernel/errors.ts';
import { distinctTargets, isPlainHostname } from '../kit/support/hosts.ts';
import { pollUntilDone, type Backoff } from '../kit/support/poll.ts';
import { NessusClient, type CallOptions, type ScanDetails, type ScanRow, type ScanRun } from './client.ts';
import { nessusConfigSchema, type NessusConfig } from './config.ts';

const envPrefix = 'NESSUS';
const configPath = (field: string) => ['connectors', 'nessus', field];

/**
 * What a run's status means (developer.tenable.com/docs/scan-status-tio). Anything else
 * (pending, running, processing, publishing, pausing, paused, resuming, stopping, …) is a run
 * still on its way, waited for until `scanTimeout`.
 */
const finished = 'completed';
const ended = new Map<string, string>([
  ['canceled', 'someone stopped it in Nessus'],
  ['cancelled', 'someone stopped it in Nessus'],
  ['stopped', 'someone stopped it in Nessus'],
  [
    'aborted',
    'Nessus or the scanner gave up on it: see the scan warnings in Nessus (a scanner fault, a run queued too long, or more targets than the licence allows)',
  ],
  ['imported', 'it is an imported scan, which cannot run'],
]);

/**
 * What Nessus reads as one host. A scan target may also be a range, a CIDR block, a list or a
 * `link6` sweep (docs.tenable.com, Scan Targets); none of those may come from an asset's name.
 */
function scanTargetOf(target: DeployTarget): string | undefined {
  const value = (target.address ?? target.hostname).trim();
  if (isIP(value)) return value;
  if (!isPlainHostname(value)) return undefined;
  // `10.0.0-3.1-254` passes as a hostname but is an octet range; `link6` sweeps a link.
  if (/^[\d.-]+$/.test(value) || /^link6/i.test(value)) return undefined;
  return value;
}

interface Observed {
  status: string;
  run: ScanRun | undefined;
  startedAt: number | undefined;
}

/** This run's entry in the scan's history (found by the uuid the launch answered with). */
function observe(details: ScanDetails, runUuid: string): Observed {
  const run = details.history.find((h) => h.uuid === runUuid);
  if (run) return { status: run.status, run, startedAt: run.creation_date };
  // Some servers show a fresh run in `info` before its history entry appears.
  if (details.info.uuid === runUuid && details.info.status)
    return { status: details.info.status, run: undefined, startedAt: details.info.scan_start ?? undefined };
  return { status: 'pending', run: undefined, startedAt: undefined };
}

/** The scan to re-launch: the newest that Patchflow may control, among those of its name. */
function reusable(rows: ScanRow[], name: string): ScanRow | undefined {
  return rows
    .filter((s) => s.name === name && s.control !== false && s.status !== 'imported')
    .sort((a, b) => (b.last_modification_date ?? 0) - (a.last_modification_date ?? 0) || b.id - a.id)[0];
}

export const nessusConnector = defineConnector({
  id: 'nessus',
  title: 'Tenable Nessus / Tenable Vulnerability Management',
  configSchema: nessusConfigSchema,
  capabilities: { scanner: true },
  env: { prefix: envPrefix, requires: 'url', groups: { retry: `${envPrefix}_RETRY` } },
  create(config: NessusConfig, deps) {
    const ca = readCaFile(config.caFile, 'nessus', 'Nessus');
    if (!config.verifyTls)
      deps.logger.warn('TLS certificate verification is off for Nessus: the API keys go to whoever answers', {
        url: config.url,
      });
    const client = new NessusClient({
      url: config.url,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      timeoutMs: durationMs(config.requestTimeout),
      retry: config.retry,
      ca,
      verifyTls: config.verifyTls,
      userAgent: 'Integration/1.0 (Patchflow; patchflow-nessus-scanner; Build/0.1.0)',
      keysHint: `connectors.nessus.accessKey and secretKey, or ${envPrefix}_ACCESS_KEY and ${envPrefix}_SECRET_KEY`,
    });
    const backoff: Backoff = {
      initialMs: durationMs(config.pollInterval),
      maxMs: Math.max(durationMs(config.maxPollInterval), durationMs(config.pollInterval)),
      factor: 1.5,
    };

    /** The template the scan is created from: configured, the policy's, or Nessus's own advanced (else basic) one. */
    async function templateUuid(call: CallOptions): Promise<string> {
      if (config.templateUuid) return config.templateUuid;
      if (config.policyId !== undefined) {
        const policy = (await client.policies(call)).find((p) => p.id === config.policyId);
        if (!policy?.template_uuid)
          throw new InputError(`Nessus lists no scan policy ${config.policyId} with a template for this user`, [
            { path: configPath('policyId'), message: 'no such policy' },
          ]);
        return policy.template_uuid;
      }
      const templates = await client.scanTemplates(call);
      const template = templates.find((t) => t.name === 'advanced') ?? templates.find((t) => t.name === 'basic');
      if (!template)
        throw new InputError(
          'Nessus offers neither the "advanced" nor the "basic" scan template; set templateUuid to one GET /editor/scan/templates lists',
          [{ path: configPath('templateUuid'), message: 'no default template available' }],
        );
      return template.uuid;
    }

    async function scanId(targets: string[], req: ScanRequest, call: CallOptions): Promise<number> {
      const existing = reusable(await client.scans(config.folderId, call), config.scanName);
      if (existing) return existing.id;
      const created = await client.createScan(
        {
          uuid: await templateUuid(call),
          settings: {
            name: config.scanName,
            // Required at creation; each launch names its own targets instead.
            text_targets: targets.join(','),
            enabled: false,
            ...(config.folderId === undefined ? {} : { folder_id: config.folderId }),
            ...(config.policyId === undefined ? {} : { policy_id: config.policyId }),
          },
        },
        call,
      );
      req.onProgress?.(`created Nessus scan ${created.id} "${created.name}"`);
      return created.id;
    }

    /** Best effort: the scan failing or being cancelled is what the caller hears about, not this. */
    async function stopQuietly(id: number, runUuid: string, why: string): Promise<void> {
      await client.stop(id).catch((e: unknown) =>
        deps.logger.warn('could not stop the Nessus scan', {
          scan: id,
          run: runUuid,
          why,
          err: (e as Error).message,
        }),
      );
    }

    async function waitForRun(id: number, runUuid: string, req: ScanRequest, call: CallOptions): Promise<Observed> {
      const name = `Nessus scan ${id} run ${runUuid}`;
      let waited: { done: boolean; value: Observed };
      try {
        waited = await pollUntilDone({
          check: async () => {
            const seen = observe(await client.details(id, call), runUuid);
            req.onProgress?.(`${name} ${seen.status}`);
            const why = ended.get(seen.status);
            if (why) throw new UpstreamError(`${name} ended "${seen.status}": ${why}`, { retryable: false });
            return { done: seen.status === finished, value: seen };
          },
          backoff,
          deadlineMs: durationMs(config.scanTimeout),
          signal: req.signal,
        });
      } catch (err) {
        // Cancelled by the caller (the activity was cancelled): stop the scan too, not just our waiting.
        if (req.signal?.aborted) {
          await stopQuietly(id, runUuid, 'cancelled');
          throw req.signal.reason;
        }
        throw err;
      }
      if (!waited.done) {
        await stopQuietly(id, runUuid, 'scanTimeout');
        throw new UpstreamError(
          `${name} did not finish within scanTimeout ${config.scanTimeout} (last status "${waited.value.status}"); it was stopped`,
          { retryable: false },
        );
      }
      return waited.value;
    }

    async function exported(id: number, historyId: number | undefined, req: ScanRequest, call: CallOptions) {
      const file = await client.requestExport(id, historyId, call);
      const ready = await pollUntilDone({
        check: async () => {
          const status = await client.exportStatus(id, file, call);
          if (status === 'error' || status === 'failed')
            throw new UpstreamError(`Nessus could not export the report of scan ${id} (export status "${status}")`);
          return { done: status === 'ready', value: status };
        },
        backoff: { ...backoff, initialMs: Math.min(backoff.initialMs, 5000) },
        deadlineMs: durationMs(config.exportTimeout),
        signal: req.signal,
        onWait: (status) => req.onProgress?.(`Nessus export ${file} of scan ${id} ${status}`),
      });
      if (!ready.done)
        throw new UpstreamError(
          `Nessus did not finish exporting the report of scan ${id} within exportTimeout ${config.exportTimeout} (status "${ready.value}")`,
        );
      return file;
    }

    async function scan(req: ScanRequest): Promise<ScanReport> {
      req.signal?.throwIfAborted();
      const call: CallOptions = { signal: req.signal, onWait: (note) => req.onProgress?.(note) };
      const targets: string[] = [];
      const refused: string[] = [];
      for (const t of distinctTargets(req.targets)) {
        const value = scanTargetOf(t);
        if (value === undefined) refused.push(t.address ?? t.hostname);
        else if (!targets.includes(value)) targets.push(value);
      }
      if (refused.length) {
        const note = `not sent to Nessus, as they would change what the scan covers: ${refused.join(', ')}`;
        deps.logger.warn('scan targets refused', { cycleId: req.cycleId, refused });
        req.onProgress?.(note);
      }
      if (targets.length === 0)
        throw new InputError(
          refused.length ? `no target to scan: every one was refused (${refused.join(', ')})` : 'no target to scan',
          [{ path: ['targets'], message: 'no host Nessus can scan' }],
        );

      const id = await scanId(targets, req, call);
      // A lower bound of the run's start on Patchflow's clock, should Nessus not state it.
      const launchedAt = Math.floor(Date.now() / 1000);
      const runUuid = await client.launch(id, targets, call);
      req.onProgress?.(`Nessus scan ${id} run ${runUuid} launched for ${targets.length} target(s)`);
      try {
        const run = await waitForRun(id, runUuid, req, call);
        const file = await exported(id, run.run?.history_id, req, call);
        const body = await client.download(id, file, call);
        return {
          format: 'nessus',
          body,
          // Nessus's own clock: the evidence is compared with the install time as the scanner saw it.
          startedAt: new Date((run.startedAt ?? launchedAt) * 1000).toISOString(),
          reference: `nessus scan ${id} run ${runUuid}`,
        };
      } catch (err) {
        // A cancellation stays a cancellation (never an outage to retry), whichever wait it interrupted.
        if (req.signal?.aborted) throw req.signal.reason;
        throw err;
      }
    }

    return {
      scanner: { scan },
      async testConnection() {
        try {
          const me = await client.session();
          const existing = reusable(await client.scans(config.folderId), config.scanName);
          const plan = existing
            ? `re-launches scan ${existing.id} "${config.scanName}"`
            : `will create scan "${config.scanName}" from template ${await templateUuid({})}`;
          return {
            ok: true,
            message: `Nessus at ${config.url} as ${me.username ?? me.name ?? 'an unnamed user'}; Patchflow ${plan}`,
          };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
    };
  },
});
