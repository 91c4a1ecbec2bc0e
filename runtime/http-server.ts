import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpApp } from '../server/app.ts';
import type { AppContext } from '../app/context.ts';

export interface RunningHttpServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function listen(ctx: AppContext, host: string, port: number): Promise<RunningHttpServer> {
  const app = createHttpApp(ctx);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
