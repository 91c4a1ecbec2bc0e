import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PatchflowError } from '../kernel/errors.ts';

/** The only CLI version we build: later tags carry `replace` directives and cannot be `go install`ed. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

export function temporalCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'patchflow', 'bin');
}

/**
 * Finds the `temporal` CLI: on PATH, then TEMPORAL_CLI_PATH, then our cache. With `build`, a
 * missing CLI is built from the Go module proxy into the cache (a few minutes, once).
 */
export function resolveTemporalCli(
  opts: { build: boolean; log?: (line: string) => void } = { build: false },
  env: NodeJS.ProcessEnv = process.env,
): string {
  const onPath = which('temporal', env);
  if (onPath) return onPath;
  const explicit = env['TEMPORAL_CLI_PATH'];
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new PatchflowError(`TEMPORAL_CLI_PATH=${explicit} is not an executable file`, { code: 'missing_dependency' });
  }
  return cachedGoTool({ binary: 'temporal', module: TEMPORAL_CLI_MODULE, what: 'the Temporal CLI', ...opts }, env);
}

/**
 * A tool Patchflow builds from the Go module proxy into its cache (`~/.cache/patchflow/bin`): the
 * cached build, or with `build` a new one (once), or an error naming the one command that builds it.
 */
export function cachedGoTool(
  tool: { binary: string; module: string; what: string; build: boolean; log?: ((line: string) => void) | undefined },
  env: NodeJS.ProcessEnv = process.env,
): string {
  const cacheDir = temporalCacheDir(env);
  const cached = path.join(cacheDir, tool.binary);
  if (isExecutable(cached)) return cached;
  const howTo = `GOBIN=${cacheDir} go install ${tool.module}`;
  if (!tool.build)
    throw new PatchflowError(`${tool.what} was not found; install it with: ${howTo}`, { code: 'missing_dependency' });
  if (!which('go', env))
    throw new PatchflowError(
      `${tool.what} was not found and Go is not installed to build it; install Go, then run: ${howTo}`,
      {
        code: 'missing_dependency',
      },
    );
  mkdirSync(cacheDir, { recursive: true });
  tool.log?.(`building ${tool.what} once into ${cacheDir} (${tool.module})…`);
  const r = spawnSync('go', ['install', tool.module], {
    env: { ...env, GOBIN: cacheDir },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0 || !isExecutable(cached))
    throw new PatchflowError(`building ${tool.what} failed; run it yourself: ${howTo}`, { code: 'missing_dependency' });
  return cached;
}

export function which(cmd: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function temporalCliVersion(cli: string): string {
  return execFileSync(cli, ['--version'], { encoding: 'utf8' }).trim();
}
