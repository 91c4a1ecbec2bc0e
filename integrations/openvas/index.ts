import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import type { DeployTarget, ScanReport, ScanRequest } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { InputError, PatchflowError, UpstreamError } from '../../kernel/errors.ts';
import { distinctTargets, isPlainHostname } from '../kit/support/hosts.ts';
import { pollUntilDone } from '../kit/support/poll.ts';
import { GmpClient, type GmpSession, type GmpTask } from './client.ts';
import { openvasConfigSchema, type OpenvasConfig } from './config.ts';

/** gvmd's built-in "XML" report format: the only one sent as XML rather than Base64, and the one report.ts reads. */
export const xmlReportFormatId = 'a994b278-1f62-11e1-96ac-406186ea4fc5';

/** Task states after which no report will come (GMP `task_status`); anything else is still on its way to Done. */
const endedWithoutReport = new Set([
  'Stopped',
  'Interrupted',
  'Delete Requested',
  'Ultimate Delete Requested',
  'Delete Waiting',
  'Ultimate Delete Waiting',
]);

/** What one scan created in gvmd, for cleaning up; `running` while the task may still scan. */
interface ScanIds {
  targetId?: string;
  taskId?: string;
  running: boolean;
}

/** Polls that may fail in a row (gvmd restarting, a dropped connection) before the scan is given up. */
const tolerablePollFailures = 3;

/** What gvmd is asked to scan for a target: its address when it has one, else its name; never a range or a list. */
function scanHost(t: DeployTarget): string | undefined {
  const address = t.address?.trim();
  if (address && isIP(address)) return address;
  const name = t.hostname.trim();
  return isIP(name) || isPlainHostname(name) ? name : undefined;
}

/** gvmd writes ISO 8601 with an offset; a time without one is UTC, gvmd's default zone. */
function isoTime(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const withZone = /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(text) ? `${text}Z` : text;
  const t = Date.parse(withZone);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** Spool files older than this were left by a worker that stopped before the report was read; they are removed. */
const staleSpoolMs = 24 * 3_600_000;

async function removeStaleSpools(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => /^report-.*\.xml$/.test(n))
      .map(async (n) => {
        const file = path.join(dir, n);
        const info = await stat(file).catch(() => undefined);
        if (info && Date.now() - info.mtimeMs > staleSpoolMs) await rm(file, { force: true });
      }),
  );
}

/** The report's bytes from the spool file, read once; the file is removed when reading ends, however it ends. */
async function* spooledBody(file: string, start: number, end: number): AsyncGenerator<Uint8Array> {
  try {
    let first = true;
    for await (const chunk of createReadStream(file, { start, end: end - 1, highWaterMark: 64 * 1024 })) {
      let bytes = chunk as Buffer;
      if (first) {
        // The span starts where the previous tag ended: whitespace before `<report` is not part of the report.
        let i = 0;
        while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09))
          i++;
        bytes = bytes.subarray(i);
        if (bytes.length === 0) continue;
        first = false;
      }
      yield bytes;
    }
  } finally {
    await rm(file, { force: true });
  }
}

/** Greenbone / OpenVAS through gvmd's management protocol: a target and a task per scan, deleted once its report is in. */
export const openvasConnector = defineConnector({
  id: 'openvas',
  title: 'Greenbone / OpenVAS (GMP)',
  configSchema: openvasConfigSchema,
  capabilities: { scanner: true },
  env: { prefix: 'OPENVAS' },
  create(config: OpenvasConfig, deps) {
    const client = new GmpClient({
      endpoint: {
        socketPath: config.socketPath,
        host: config.host,
        port: config.port,
        caFile: config.caFile,
        certFile: config.certFile,
        keyFile: config.keyFile,
        rejectUnauthorized: config.rejectUnauthorized,
        serverName: config.serverName,
      },
      username: config.username,
      password: config.password,
      timeoutMs: durationMs(config.requestTimeout),
    });
    if (config.host && !config.rejectUnauthorized)
      deps.logger.warn('gvmd TLS certificate is not verified (rejectUnauthorized is false)', { host: config.host });

    const progressNote = (t: GmpTask) => `GMP task ${t.id}: ${t.status}${t.progress >= 0 ? ` ${t.progress}%` : ''}`;

    /** Polls the task until Done; a run that ends without a report, or outlives scanTimeout, fails the scan. */
    async function waitForTask(taskId: string, reportId: string, req: ScanRequest, run: ScanIds): Promise<GmpTask> {
      let failures = 0;
      let last: GmpTask = { id: taskId, name: '', status: 'Requested', progress: -1 };
      const waited = await pollUntilDone({
        check: async () => {
          try {
            last = await client.session((s) => s.task(taskId), req.signal);
            failures = 0;
          } catch (err) {
            if (req.signal?.aborted || !(err instanceof PatchflowError && err.retryable)) throw err;
            if (++failures >= tolerablePollFailures) throw err;
            req.onProgress?.(`GMP task ${taskId}: status poll failed (${err.message}); trying again`);
            return { done: false, value: last };
          }
          req.onProgress?.(progressNote(last));
          if (last.status === 'Done' || endedWithoutReport.has(last.status)) run.running = false;
          if (endedWithoutReport.has(last.status))
            throw new UpstreamError(
              `GMP task ${taskId} (report ${reportId}) on ${client.where} ended ${last.status}${last.progress >= 0 ? ` at ${last.progress}%` : ''} without a complete report` +
                (last.status === 'Interrupted'
                  ? '; gvmd or its scanner was interrupted (restarted, lost the scanner, or ran out of resources)'
                  : '; it was stopped in gvmd, not by Patchflow'),
              { retryable: last.status === 'Interrupted' },
            );
          return { done: last.status === 'Done', value: last };
        },
        backoff: {
          initialMs: durationMs(config.pollInterval),
          maxMs: durationMs(config.pollInterval),
          factor: 1,
        },
        deadlineMs: durationMs(config.scanTimeout),
        signal: req.signal,
      });
      if (!waited.done)
        throw new UpstreamError(
          `GMP task ${taskId} on ${client.where} did not finish within scanTimeout (${config.scanTimeout}); it was stopped and deleted`,
          { retryable: false },
        );
      return waited.value;
    }

    /** Stops a run still going and deletes what the scan created; each step on its own, none of them fatal. */
    async function cleanUp(ids: ScanIds): Promise<void> {
      if (!ids.targetId && !ids.taskId) return;
      const step = async (what: string, run: () => Promise<void>) => {
        try {
          await run();
        } catch (err) {
          deps.logger.warn(`could not ${what} in gvmd`, { ...ids, err: (err as Error).message });
        }
      };
      try {
        await client.session(async (s: GmpSession) => {
          if (ids.taskId && ids.running) await step('stop the task', () => s.stopTask(ids.taskId!));
          if (ids.taskId) await step('delete the task', () => s.deleteTask(ids.taskId!));
          if (ids.targetId) await step('delete the target', () => s.deleteTarget(ids.targetId!));
        });
      } catch (err) {
        deps.logger.warn('could not clean up the scan in gvmd', { ...ids, err: (err as Error).message });
      }
    }

    async function scan(req: ScanRequest): Promise<ScanReport> {
      const hosts: string[] = [];
      const refused: string[] = [];
      for (const t of distinctTargets(req.targets)) {
        const host = scanHost(t);
        if (!host) refused.push(t.hostname);
        else if (!hosts.includes(host)) hosts.push(host);
      }
      if (refused.length) {
        deps.logger.warn('targets not sent to gvmd: not a plain host name or IP address', { hosts: refused });
        req.onProgress?.(`not scanned (not a plain host name or IP address): ${refused.join(', ')}`);
      }
      if (hosts.length === 0)
        throw new InputError('nothing to scan: no target has a plain host name or IP address', [
          { path: ['targets'], message: 'no scannable target' },
        ]);

      const label = `Patchflow ${req.cycleId ? `cycle ${req.cycleId}` : 'scan'} ${randomUUID().slice(0, 8)}`;
      const comment = 'Created by Patchflow for one scan; deleted once its report is fetched.';
      const ids: ScanIds = { running: false };
      try {
        const requestedAt = new Date().toISOString();
        const reportId = await client.session(async (s) => {
          ids.targetId = await s.createTarget({
            name: label,
            comment,
            hosts,
            portListId: config.portListId,
            aliveTest: config.aliveTest,
          });
          ids.taskId = await s.createTask({
            name: label,
            comment,
            configId: config.scanConfigId,
            targetId: ids.targetId,
            scannerId: config.scannerId,
          });
          ids.running = true;
          return s.startTask(ids.taskId);
        }, req.signal);
        const taskId = ids.taskId!;
        req.onProgress?.(`GMP task ${taskId} started for ${hosts.length} host(s); report ${reportId}`);

        const done = await waitForTask(taskId, reportId, req, ids);

        const dir = path.join(deps.workDir, 'openvas');
        await mkdir(dir, { recursive: true });
        await removeStaleSpools(dir);
        const spooled = await client.session(
          (s) =>
            s.downloadReport(reportId, {
              formatId: xmlReportFormatId,
              filter: config.reportFilter,
              file: path.join(dir, `report-${reportId}-${randomUUID().slice(0, 8)}.xml`),
              maxBytes: config.maxReportBytes,
              tooLarge: [{ path: ['maxReportBytes'], message: `larger than ${config.maxReportBytes} bytes` }],
            }),
          req.signal,
        );
        req.onProgress?.(`GMP report ${reportId} fetched (${spooled.bytes} bytes)`);
        const startedAt =
          isoTime(spooled.scanStart) ??
          isoTime(spooled.timestamp) ??
          isoTime(done.lastReport?.id === reportId ? done.lastReport.timestamp : undefined) ??
          requestedAt;
        return {
          format: 'openvas',
          body: spooledBody(spooled.file, spooled.start, spooled.end),
          startedAt,
          reference: `gmp task ${taskId} report ${reportId}`,
        };
      } catch (err) {
        // Cancelled by the caller: the caller hears of the cancellation, not of what it broke on the way.
        throw req.signal?.aborted ? req.signal.reason : err;
      } finally {
        // Before the result or the error reaches the caller: a run still going is stopped, and nothing is left behind.
        await cleanUp(ids);
      }
    }

    return {
      scanner: { scan },
      async testConnection() {
        try {
          const { version, role } = await client.session(async (s) => ({ version: await s.version(), role: s.role }));
          return {
            ok: true,
            message: `${client.where} speaks GMP ${version}; signed in as ${config.username}${role ? ` (${role})` : ''}`,
          };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
    };
  },
});
