import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { createHttpApp, createPublicApp } from '../server/app.ts';
import { chatRouter } from '../server/chat.ts';
import type { AppContext } from '../app/context.ts';

export interface RunningHttpServer {
  url: string;
  /** Set when a public listener for the chat endpoints runs beside the private one. */
  publicUrl?: string;
  server: Server;
  close(): Promise<void>;
}

async function serve(app: Express, host: string, port: number): Promise<{ server: Server; url: string }> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const shown = host.includes(':') ? `[${host}]` : host;
  return { server, url: `http://${shown}:${(server.address() as AddressInfo).port}` };
}

const closing = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/**
 * Starts the private listener (API, dashboard, sign-in, chat) and, when `publicListener` is given,
 * a second one that serves only the chat endpoints, for the reverse proxy that faces the internet.
 */
export async function listen(
  ctx: AppContext,
  host: string,
  port: number,
  publicListener?: { host: string; port: number },
): Promise<RunningHttpServer> {
  const chat = chatRouter(ctx);
  const main = await serve(createHttpApp(ctx, chat), host, port);
  const outside = publicListener
    ? await serve(createPublicApp(ctx, chat), publicListener.host, publicListener.port)
    : undefined;
  return {
    url: main.url,
    ...(outside ? { publicUrl: outside.url } : {}),
    server: main.server,
    close: async () => {
      await Promise.all([closing(main.server), ...(outside ? [closing(outside.server)] : [])]);
    },
  };
}
