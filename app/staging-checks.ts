import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { durationMs } from '../kernel/duration.ts';
import type {
  FunctionalCheck,
  HttpProbe,
  PerformanceBaseline,
  PerformanceCheck,
  StagingCheckReport,
  StagingCheckResult,
  StagingChecks,
} from '../workflows/types.ts';

const run = promisify(execFile);

/** A staging host as checks address it. */
export interface StagingHost {
  hostname: string;
  address: string | undefined;
}

/** `{hostname}` and `{address}` (the hostname when the asset has no address) filled in for one host. */
export function forHost(text: string, host: StagingHost): string {
  return text.replaceAll('{hostname}', host.hostname).replaceAll('{address}', host.address ?? host.hostname);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One HTTP probe: passes on an expected status (any 2xx by default) and, if asked, a body containing the text. */
async function probe(
  check: HttpProbe,
  host: StagingHost,
  timeout: string,
): Promise<{ passed: boolean; detail: string; ms: number }> {
  const url = forHost(check.url, host);
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(durationMs(timeout)), redirect: 'manual' });
    const body = await res.text();
    const ms = Math.round(performance.now() - started);
    const statusOk = check.expectStatus
      ? check.expectStatus.includes(res.status)
      : res.status >= 200 && res.status < 300;
    if (!statusOk)
      return {
        passed: false,
        ms,
        detail: `HTTP ${res.status} from ${url}, expected ${check.expectStatus?.join(' or ') ?? '2xx'}`,
      };
    if (check.contains && !body.includes(check.contains))
      return { passed: false, ms, detail: `HTTP ${res.status} from ${url}, but the body lacks "${check.contains}"` };
    return { passed: true, ms, detail: `HTTP ${res.status} in ${ms} ms` };
  } catch (err) {
    const ms = Math.round(performance.now() - started);
    const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${timeout}` : (err as Error).message;
    return { passed: false, ms, detail: `${url}: ${reason}` };
  }
}

async function functional(check: FunctionalCheck, host: StagingHost): Promise<StagingCheckResult> {
  const base = { name: check.name, kind: 'functional' as const, hostname: host.hostname };
  if ('http' in check) {
    const { passed, detail } = await probe(check.http, host, check.timeout);
    return { ...base, passed, detail };
  }
  const [file, ...args] = check.command.map((part) => forHost(part, host));
  try {
    await run(file!, args, { timeout: durationMs(check.timeout), maxBuffer: 4 * 1024 * 1024 });
    return { ...base, passed: true, detail: `${file} exited 0` };
  } catch (err) {
    const e = err as { code?: number | string; killed?: boolean; stderr?: string; message: string };
    const why = e.killed
      ? `did not finish within ${check.timeout}`
      : typeof e.code === 'number'
        ? `exited ${e.code}`
        : e.message;
    const stderr = (e.stderr ?? '').trim().split('\n').at(-1);
    return { ...base, passed: false, detail: `${file} ${why}${stderr ? `: ${stderr.slice(0, 300)}` : ''}` };
  }
}

/** The median of `samples` probes; null when a probe fails (then the functional side speaks). */
async function responseTime(check: PerformanceCheck, host: StagingHost): Promise<number | null> {
  const times: number[] = [];
  for (let i = 0; i < check.samples; i++) {
    const r = await probe(check.http, host, check.timeout);
    if (!r.passed) return null;
    times.push(r.ms);
  }
  return median(times);
}

/** Response times of each performance check on each staging host, before the patch goes on. */
export async function measureBaseline(checks: StagingChecks, hosts: StagingHost[]): Promise<PerformanceBaseline> {
  const baseline: PerformanceBaseline = {};
  for (const check of checks.performance) {
    baseline[check.name] = {};
    for (const host of hosts) {
      const ms = await responseTime(check, host);
      if (ms !== null) baseline[check.name]![host.hostname] = ms;
    }
  }
  return baseline;
}

/**
 * Every functional check on every staging host, then every performance check against its
 * baseline. The staging group passes when every result passed; each result says what was seen.
 * A slowdown within the check's `toleranceMs` of the baseline is measurement noise, not a regression.
 */
export async function runStagingChecks(
  checks: StagingChecks,
  hosts: StagingHost[],
  baseline: PerformanceBaseline,
): Promise<StagingCheckReport> {
  const results: StagingCheckResult[] = [];
  for (const check of checks.functional) for (const host of hosts) results.push(await functional(check, host));
  for (const check of checks.performance)
    for (const host of hosts) {
      const base = { name: check.name, kind: 'performance' as const, hostname: host.hostname };
      const before = baseline[check.name]?.[host.hostname];
      const after = await responseTime(check, host);
      if (after === null) {
        results.push({
          ...base,
          passed: false,
          detail: `${forHost(check.http.url, host)} did not answer with 2xx after the patch`,
        });
        continue;
      }
      if (before === undefined) {
        results.push({
          ...base,
          passed: true,
          detail: `median ${after} ms; no baseline (the host did not answer before the patch)`,
        });
        continue;
      }
      const slowdown = before > 0 ? ((after - before) / before) * 100 : 0;
      const passed = after - before <= (check.toleranceMs ?? 1) || slowdown <= check.maxSlowdownPercent;
      const sign = slowdown >= 0 ? '+' : '';
      results.push({
        ...base,
        passed,
        detail: `median ${after} ms vs ${before} ms before (${sign}${slowdown.toFixed(0)}%${passed ? '' : `, over the ${check.maxSlowdownPercent}% allowed`})`,
      });
    }
  return { passed: results.every((r) => r.passed), results };
}
