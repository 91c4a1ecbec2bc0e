import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What every vendor emulator shares: a real HTTP server on 127.0.0.1 and an ephemeral port, the
 * request body read up front, and injectable failures (the next N requests answer 5xx) so that
 * tests can see how a connector classifies an outage.
 */
export abstract class HttpEmulator {
  url = '';
  private readonly server = http.createServer((req, res) => void this.serve(req, res));
  private failures: { status: number; remaining: number } | undefined;
  private hung: Promise<void> | undefined;
  private held = 0;

  constructor(private readonly basePath: string) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${this.basePath}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Until the returned function is called, requests wait unanswered, as they do when the vendor
   * hangs; `heldRequests` counts those waiting.
   */
  hang(): () => void {
    let release!: () => void;
    this.hung = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.hung = undefined;
      release();
    };
  }

  get heldRequests(): number {
    return this.held;
  }

  /** The next `count` requests answer with this HTTP status (e.g. 503) before anything is processed. */
  failNextRequests(status: number, count: number): void {
    this.failures = { status, remaining: count };
  }

  protected abstract handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void | Promise<void>;

  /** How this vendor words an outage; plain text unless the emulator says otherwise. */
  protected failureBody(): { contentType: string; body: string } {
    return { contentType: 'text/plain', body: 'Service Unavailable' };
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.hung) {
      this.held++;
      await this.hung;
      this.held--;
    }
    if (this.failures && this.failures.remaining > 0) {
      this.failures.remaining--;
      const failure = this.failureBody();
      res.writeHead(this.failures.status, { 'content-type': failure.contentType }).end(failure.body);
      return;
    }
    await this.handle(req, Buffer.concat(chunks), res);
  }
}
