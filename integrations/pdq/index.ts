import type { DeployRequest, DeployTarget, HostResult } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { distinctTargets, HostIndex, hostResult, inRequestOrder, isPlainHostname } from '../kit/support/hosts.ts';
import { pollUntilDone } from '../kit/support/poll.ts';
import { WinRmClient } from '../kit/winrm/client.ts';
import { PdqClient, type DeploymentComputer } from './client.ts';
import { pdqConfigSchema, type PdqConfig } from './config.ts';

type Kind = 'install' | 'verify' | 'uninstall';

/** PDQ reports a host it could not reach as a failure; these errors mean the host was never touched. */
const unreachableError =
  /offline|resolve host|network path was not found|ping|RPC server is unavailable|timed out connecting/i;

function interpret(
  target: DeployTarget,
  c: DeploymentComputer | undefined,
  kind: Kind,
  evidence: Record<string, unknown>,
): HostResult {
  if (!c) return hostResult(target, 'unreachable', 'PDQ Deploy recorded no result for this target', evidence);
  const step = c.steps[0];
  if (c.Status !== 'Successful') {
    const error = c.Error ?? `${step?.Title ?? 'a step'} ${c.Status.toLowerCase()}`;
    if (unreachableError.test(error)) return hostResult(target, 'unreachable', error, evidence);
    return hostResult(target, 'failed', kind === 'verify' ? `not at the target state: ${error}` : error, evidence);
  }
  if (kind === 'verify')
    return hostResult(target, 'already_compliant', `${step?.Title ?? 'verify package'} succeeded`, evidence);
  // The package's step condition skips the install (or uninstall) when there is nothing to do.
  if (step?.Status === 'Skipped')
    return hostResult(target, 'already_compliant', `${step.Title}: skipped, nothing to change`, evidence);
  return hostResult(target, 'patched', `${step?.Title ?? 'package'} succeeded`, evidence);
}

export const pdqConnector = defineConnector({
  id: 'pdq',
  title: 'PDQ Deploy (command line over WinRM)',
  configSchema: pdqConfigSchema,
  capabilities: { deployer: true },
  create(config: PdqConfig) {
    const winrm = new WinRmClient({
      endpoint: config.endpoint,
      username: config.username,
      password: config.password,
      requestTimeoutMs: durationMs(config.requestTimeout),
      operationTimeoutSec: 20,
    });
    const pdq = new PdqClient(winrm, config);
    const packageFor = (kind: Kind, vendorRef: string) =>
      kind === 'install'
        ? vendorRef
        : (kind === 'verify' ? config.verifyPackageTemplate : config.rollbackPackageTemplate).replaceAll(
            '{package}',
            vendorRef,
          );

    async function run(kind: Kind, req: DeployRequest): Promise<HostResult[]> {
      const targets = distinctTargets(req.targets);
      const decided: HostResult[] = targets
        .filter((t) => !isPlainHostname(t.hostname))
        .map((t) => hostResult(t, 'failed', 'not a plain hostname; it was not passed to PDQDeploy.exe'));
      const plain = targets.filter((t) => isPlainHostname(t.hostname));
      if (plain.length === 0) return inRequestOrder(req.targets, decided);
      const packageName = packageFor(kind, req.patch.vendorRef);
      const deploymentId = await pdq.deploy(
        packageName,
        plain.map((t) => t.hostname),
        req.signal,
      );
      req.onProgress?.(`PDQ deployment ${deploymentId} of "${packageName}" started for ${plain.length} target(s)`);
      const waited = await pollUntilDone({
        check: async () => {
          const status = await pdq.deploymentStatus(deploymentId, req.signal);
          return { done: status === 'Finished', value: status };
        },
        backoff: { initialMs: durationMs(config.pollInterval), maxMs: durationMs(config.maxPollInterval), factor: 1.5 },
        deadlineMs: durationMs(config.deploymentTimeout),
        signal: req.signal,
        onWait: (status) => req.onProgress?.(`PDQ deployment ${deploymentId} ${status ?? 'not yet recorded'}`),
      });
      const evidence = { pdqDeploymentId: deploymentId, package: packageName };
      if (!waited.done) {
        for (const t of plain)
          decided.push(
            hostResult(
              t,
              'failed',
              `PDQ deployment ${deploymentId} was still ${waited.value ?? 'queued'} after ${config.deploymentTimeout}`,
              evidence,
            ),
          );
        return inRequestOrder(req.targets, decided);
      }
      const computers = new HostIndex(await pdq.computers(deploymentId, req.signal), (c) => [c.Name]);
      for (const t of plain) decided.push(interpret(t, computers.find(t.hostname), kind, evidence));
      return inRequestOrder(req.targets, decided);
    }

    return {
      deployer: {
        async deploy(req) {
          if (!req.dryRun) return run('install', req);
          // PDQ has no check mode: the verify package says which hosts an install would change.
          const verified = await run('verify', req);
          return verified.map((r) =>
            r.outcome === 'failed' ? { ...r, outcome: 'skipped', message: `would install: ${r.message}` } : r,
          );
        },
        verify: (req) => run('verify', req),
        async rollback(req) {
          if (!req.dryRun) return run('uninstall', req);
          const verified = await run('verify', req);
          return verified.map((r) =>
            r.outcome === 'already_compliant'
              ? { ...r, outcome: 'skipped', message: 'would uninstall' }
              : r.outcome === 'failed'
                ? { ...r, outcome: 'skipped', message: `nothing to uninstall: ${r.message}` }
                : r,
          );
        },
      },
      async testConnection() {
        try {
          const packages = await pdq.packageNames();
          return { ok: true, message: `PDQ Deploy at ${config.endpoint} lists ${packages.length} package(s)` };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
    };
  },
});
