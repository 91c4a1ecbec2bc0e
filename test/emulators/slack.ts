/**
 * Slack Web API on 127.0.0.1, as far as Patchflow uses it (https://api.slack.com/web):
 * - POST /api/<method> with `Authorization: Bearer xoxb-…`; bodies are form-encoded (the Node SDK
 *   sends nested values such as `blocks` and `view` as JSON strings) or JSON. Every answer is
 *   HTTP 200 with `{ ok: true, … }`, or `{ ok: false, error }` (e.g. `invalid_auth`).
 * - auth.test, chat.postMessage (answers channel and a fresh `ts`), chat.update (by channel + ts),
 *   chat.postEphemeral, views.open (needs a trigger_id), views.publish (needs a user_id).
 * - POST /response/<id>: a slash command's or an interaction's response_url, which takes JSON.
 * Every call is recorded with its decoded arguments, so tests can read what Patchflow posted.
 */
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpEmulator } from './http-emulator.ts';

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
}

const JSON_FIELDS = new Set(['blocks', 'attachments', 'view', 'metadata']);

export class SlackApiEmulator extends HttpEmulator {
  readonly calls: SlackCall[] = [];
  private tsCounter = 1_700_000_000_000;

  constructor(private readonly opts: { botToken: string; teamId?: string; botUserId?: string }) {
    super('');
  }

  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /** A response_url for one interaction; what Patchflow posts there is recorded as method `response`. */
  responseUrl(id: string): string {
    return `${this.url}/response/${id}`;
  }

  callsOf(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Waits for a call matching `match` among those recorded after `since` (a calls.length). */
  async waitFor(
    method: string,
    match: (args: Record<string, unknown>) => boolean = () => true,
    opts: { since?: number; timeoutMs?: number } = {},
  ): Promise<SlackCall> {
    const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
    for (;;) {
      const found = this.calls.slice(opts.since ?? 0).find((c) => c.method === method && match(c.args));
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(
          `no ${method} call matched within the timeout; calls: ${this.calls.map((c) => c.method).join(', ')}`,
        );
      await sleep(50);
    }
  }

  protected handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (payload: Record<string, unknown>): void => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(payload));
    };
    const args = decode(req.headers['content-type'] ?? '', body);
    if (url.pathname.startsWith('/response/')) {
      this.calls.push({
        method: 'response',
        args: { ...args, responseId: url.pathname.slice('/response/'.length) },
        at: Date.now(),
      });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const method = url.pathname.replace(/^\/api\//, '');
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '') || String(args['token'] ?? '');
    if (token !== this.opts.botToken) return send({ ok: false, error: 'invalid_auth' });
    this.calls.push({ method, args, at: Date.now() });
    const ts = () => `${Math.floor(this.tsCounter / 1000)}.${String(this.tsCounter++ % 1000).padStart(6, '0')}`;
    switch (method) {
      case 'auth.test':
        return send({
          ok: true,
          url: 'https://patchflow-test.slack.com/',
          team: 'Patchflow Test',
          user: 'patchflow',
          team_id: this.opts.teamId ?? 'T0PATCH01',
          user_id: this.opts.botUserId ?? 'U0PATCHBOT',
          bot_id: 'B0PATCHBOT',
        });
      case 'chat.postMessage':
        if (!args['channel']) return send({ ok: false, error: 'channel_not_found' });
        return send({
          ok: true,
          channel: args['channel'],
          ts: ts(),
          message: { text: args['text'], blocks: args['blocks'] },
        });
      case 'chat.update':
        if (!args['channel'] || !args['ts']) return send({ ok: false, error: 'message_not_found' });
        return send({ ok: true, channel: args['channel'], ts: args['ts'], text: args['text'] });
      case 'chat.postEphemeral':
        return send({ ok: true, message_ts: ts() });
      case 'views.open':
        if (!args['trigger_id']) return send({ ok: false, error: 'invalid_trigger_id' });
        return send({ ok: true, view: { id: `V${this.calls.length}`, ...(args['view'] as object) } });
      case 'views.publish':
        if (!args['user_id']) return send({ ok: false, error: 'user_not_found' });
        return send({ ok: true, view: { id: `V${this.calls.length}`, ...(args['view'] as object) } });
      default:
        return send({ ok: false, error: 'unknown_method' });
    }
  }
}

function decode(contentType: string, body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8');
  if (!text) return {};
  if (contentType.includes('application/json')) return JSON.parse(text) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) out[k] = JSON_FIELDS.has(k) ? JSON.parse(v) : v;
  return out;
}
