import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PatchflowError } from '../kernel/errors.ts';

export interface DevServer {
  address: string;
  uiUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `temporal server start-dev` with its state in a file under dataDir, so that cycles survive a
 * restart of `npm start` like they would on a real cluster.
 */
export async function startDevServer(opts: {
  cli: string;
  dataDir: string;
  port: number;
  uiPort: number;
}): Promise<DevServer> {
  if (await portInUse(opts.port)) {
    throw new PatchflowError(
      `port ${opts.port} is in use: another Temporal server may be running. Stop it, or point Patchflow at it with TEMPORAL_ADDRESS=127.0.0.1:${opts.port}`,
      { code: 'port_in_use' },
    );
  }
  mkdirSync(opts.dataDir, { recursive: true });
  const child = spawn(
    opts.cli,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(opts.port),
      '--ui-port',
      String(opts.uiPort),
      '--db-filename',
      path.join(opts.dataDir, 'temporal.db'),
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 60_000;
  while (!(await portInUse(opts.port))) {
    if (child.exitCode !== null)
      throw new PatchflowError(`the Temporal dev server exited with ${child.exitCode}`, { code: 'dev_server_failed' });
    if (Date.now() > deadline)
      throw new PatchflowError('the Temporal dev server did not start within 60 s', { code: 'dev_server_failed' });
    await sleep(200);
  }
  return {
    address: `127.0.0.1:${opts.port}`,
    uiUrl: `http://127.0.0.1:${opts.uiPort}`,
    process: child,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
