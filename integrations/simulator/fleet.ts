import { getMaxListeners, setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeployRequest, DeployTarget, HostOutcome, HostResult, PatchDeployer } from '../contract/index.ts';
import { distinctTargets, hostKey, hostResult } from '../kit/support/hosts.ts';
import { UpstreamError } from '../../kernel/errors.ts';
import type { SimulatorConfig } from './config.ts';

/** FNV-1a over the parts, scaled to [0, 1): a stable "random" draw per host, patch and purpose, independent of order. */
function draw(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0000')) {
    h = Math.imul((h ^ ch.codePointAt(0)!) >>> 0, 0x01000193) >>> 0;
  }
  // One extra avalanche round: FNV's low bits alone are not uniform enough for rates like 0.02.
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x45d9f3b) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h / 0x1_0000_0000;
}

type Action = 'deploy' | 'verify' | 'rollback';

/**
 * An in-process fleet that behaves like a deployer's hosts: patches are installed, verified and
 * removed per host, with seeded latency and failures. For scale tests and benchmarks, where a
 * real or emulated vendor would measure the vendor instead of Patchflow.
 */
export class SimulatedFleet implements PatchDeployer {
  private readonly installed = new Map<string, Set<string>>();
  private readonly failHosts: Set<string>;
  private readonly brokenHosts: Set<string>;
  private readonly hangHosts: Set<string>;
  private readonly knownHosts: Set<string> | undefined;
  /** Installs and uninstalls performed; a no-op deployment leaves it unchanged. */
  changes = 0;

  constructor(private readonly config: SimulatorConfig) {
    this.failHosts = new Set(config.failHosts.map(hostKey));
    this.brokenHosts = new Set(config.brokenHosts.map(hostKey));
    this.hangHosts = new Set(config.hangHosts.map(hostKey));
    this.knownHosts = config.knownHosts && new Set(config.knownHosts.map(hostKey));
  }

  isInstalled(hostname: string, vendorRef: string): boolean {
    return this.installed.get(hostKey(hostname))?.has(vendorRef) ?? false;
  }

  deploy(req: DeployRequest): Promise<HostResult[]> {
    return this.run('deploy', req);
  }

  verify(req: DeployRequest): Promise<HostResult[]> {
    return this.run('verify', req);
  }

  rollback(req: DeployRequest): Promise<HostResult[]> {
    return this.run('rollback', req);
  }

  private async run(action: Action, req: DeployRequest): Promise<HostResult[]> {
    const targets = distinctTargets(req.targets);
    const results: HostResult[] = new Array(targets.length);
    let next = 0;
    let done = 0;
    // Every simulated host in flight waits on the activity's one cancellation signal.
    if (req.signal) setMaxListeners(Math.max(getMaxListeners(req.signal), this.config.concurrency + 1), req.signal);
    const worker = async () => {
      while (next < targets.length) {
        const i = next++;
        req.signal?.throwIfAborted();
        results[i] = await this.one(action, req, targets[i]!);
        // Each host done is progress, as an Ansible callback or a WSUS client report is.
        req.onProgress?.(`${++done}/${targets.length} simulated hosts done`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.concurrency, targets.length) }, worker));
    return results;
  }

  private async one(action: Action, req: DeployRequest, target: DeployTarget): Promise<HostResult> {
    const key = hostKey(target.hostname);
    const { seed, minLatencyMs, maxLatencyMs } = this.config;
    const latency = Math.round(
      minLatencyMs + draw(seed, key, req.patch.vendorRef, action, 'latency') * (maxLatencyMs - minLatencyMs),
    );
    if (latency > 0) await sleep(latency, undefined, { signal: req.signal });
    const result = (outcome: HostOutcome, message: string) =>
      hostResult(target, outcome, message, { simulated: true, latencyMs: latency });
    if (
      (this.knownHosts && !this.knownHosts.has(key)) ||
      draw(seed, key, 'unreachable') < this.config.unreachableRate
    ) {
      return result('unreachable', 'simulated: the host did not answer');
    }
    const patches = this.installed.get(key) ?? new Set<string>();
    this.installed.set(key, patches);
    const has = patches.has(req.patch.vendorRef);
    if (action === 'verify')
      return has
        ? result('already_compliant', `${req.patch.vendorRef} is installed`)
        : result('failed', `${req.patch.vendorRef} is not installed`);
    const change = action === 'deploy' ? !has : has;
    if (!change) return result('already_compliant', 'nothing to change');
    if (req.dryRun)
      return result('skipped', `would ${action === 'deploy' ? 'install' : 'remove'} ${req.patch.vendorRef}`);
    if (
      action === 'deploy' &&
      (this.failHosts.has(key) || draw(seed, key, req.patch.vendorRef, 'failure') < this.config.failureRate)
    ) {
      return result('failed', `simulated: installing ${req.patch.vendorRef} failed with exit code 1603`);
    }
    if (action === 'deploy' && this.hangHosts.has(key))
      await new Promise((_, reject) => {
        if (req.signal?.aborted) reject(req.signal.reason);
        req.signal?.addEventListener('abort', () => reject(req.signal!.reason), { once: true });
      });
    if (action === 'deploy' && this.brokenHosts.has(key))
      throw new UpstreamError(`simulated: the deployer lost its session to ${target.hostname} mid-install`);
    if (action === 'deploy') patches.add(req.patch.vendorRef);
    else patches.delete(req.patch.vendorRef);
    this.changes++;
    return result('patched', `${action === 'deploy' ? 'installed' : 'removed'} ${req.patch.vendorRef}`);
  }
}
