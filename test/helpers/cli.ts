import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../bin/patchflow.mjs', import.meta.url));

/**
 * Runs the real CLI as a user would, with exactly `env`. Asynchronous on purpose: the server that
 * answers it runs in the test's own process.
 */
export function runCli(
  env: NodeJS.ProcessEnv,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}
