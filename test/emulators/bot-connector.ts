/**
 * The Microsoft side of a Teams bot on 127.0.0.1: the Bot Framework's token signing and the
 * Bot Connector REST API, as far as Patchflow uses them.
 * - Inbound: the Bot Framework signs each request to the bot with RS256 (iss
 *   https://api.botframework.com, aud = the bot's app id, a `serviceurl` claim); the keys are
 *   published at /v1/.well-known/openidconfiguration → jwks_uri. Tests sign with `botToken()`, so
 *   the SDK's real validation runs against this JWKS.
 *   https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication
 * - Entra: POST /{tenant}/oauth2/v2.0/token (client credentials) issues the bot's outbound token;
 *   /{tenant}/discovery/v2.0/keys publishes the keys Teams tab SSO tokens (`tabToken()`) are signed with.
 * - Bot Connector API v3 (https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference):
 *   POST /v3/conversations/{id}/activities (send), POST …/activities/{activityId} (reply in thread),
 *   PUT …/activities/{activityId} (update in place), GET …/members. Each needs the issued bearer token.
 * Everything the bot sends is recorded for the tests to read.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpEmulator } from './http-emulator.ts';

export interface SentActivity {
  kind: 'send' | 'reply' | 'update';
  conversationId: string;
  activityId: string;
  activity: Record<string, unknown>;
  at: number;
}

const KEY_ID = 'patchflow-emulator-key';
const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export class BotConnectorEmulator extends HttpEmulator {
  readonly sent: SentActivity[] = [];
  private readonly privateKey: KeyObject;
  private readonly jwks: { keys: Record<string, unknown>[] };
  private readonly issuedTokens = new Set<string>();
  private activityCounter = 0;

  constructor(private readonly app: { appId: string; appPassword: string; tenantId: string }) {
    super('');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.jwks = {
      keys: [
        { ...publicKey.export({ format: 'jwk' }), kid: KEY_ID, use: 'sig', alg: 'RS256', endorsements: ['msteams'] },
      ],
    };
  }

  get openIdMetadataUrl(): string {
    return `${this.url}/v1/.well-known/openidconfiguration`;
  }

  /** A token as the Bot Framework puts in front of an activity it delivers to the bot. */
  botToken(
    opts: { serviceUrl?: string; audience?: string; expiresInSeconds?: number; signWith?: KeyObject } = {},
  ): string {
    const now = Math.floor(Date.now() / 1000);
    return this.jwt(
      {
        iss: 'https://api.botframework.com',
        aud: opts.audience ?? this.app.appId,
        serviceurl: opts.serviceUrl ?? this.url,
        nbf: now - 60,
        iat: now - 60,
        exp: now + (opts.expiresInSeconds ?? 3600),
      },
      opts.signWith,
    );
  }

  /** A Teams tab SSO token (Entra v2 access token) for the signed-in user `oid`. */
  tabToken(opts: { oid: string; audience: string; tenantId?: string; expiresInSeconds?: number }): string {
    const now = Math.floor(Date.now() / 1000);
    const tid = opts.tenantId ?? this.app.tenantId;
    return this.jwt({
      iss: `${this.url}/${tid}/v2.0`,
      aud: opts.audience,
      tid,
      oid: opts.oid,
      scp: 'access_as_user',
      ver: '2.0',
      nbf: now - 60,
      iat: now - 60,
      exp: now + (opts.expiresInSeconds ?? 3600),
    });
  }

  /** A key the Bot Framework never published: tokens signed with it must be refused. */
  static foreignKey(): KeyObject {
    return createPrivateKey(
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
  }

  async waitFor(
    match: (s: SentActivity) => boolean,
    opts: { since?: number; timeoutMs?: number } = {},
  ): Promise<SentActivity> {
    const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
    for (;;) {
      const found = this.sent.slice(opts.since ?? 0).find(match);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(
          `no matching activity within the timeout; sent: ${this.sent.map((s) => `${s.kind} ${String(s.activity['text'] ?? '').slice(0, 60)}`).join(' | ')}`,
        );
      await sleep(50);
    }
  }

  private jwt(claims: Record<string, unknown>, key: KeyObject = this.privateKey): string {
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: KEY_ID }));
    const body = b64url(JSON.stringify(claims));
    return `${head}.${body}.${b64url(sign('RSA-SHA256', Buffer.from(`${head}.${body}`), key))}`;
  }

  protected handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    const path = url.pathname;
    if (req.method === 'GET' && path === '/v1/.well-known/openidconfiguration') {
      return json(200, {
        issuer: 'https://api.botframework.com',
        authorization_endpoint: 'https://invalid.botframework.com',
        jwks_uri: `${this.url}/v1/.well-known/keys`,
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
      });
    }
    if (req.method === 'GET' && (path === '/v1/.well-known/keys' || /^\/[^/]+\/discovery\/v2\.0\/keys$/.test(path)))
      return json(200, this.jwks);
    const tokenPath = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (req.method === 'POST' && tokenPath) {
      const form = new URLSearchParams(body.toString('utf8'));
      if (
        tokenPath[1] !== this.app.tenantId ||
        form.get('client_id') !== this.app.appId ||
        form.get('client_secret') !== this.app.appPassword ||
        form.get('grant_type') !== 'client_credentials'
      ) {
        return json(401, {
          error: 'invalid_client',
          error_description: 'AADSTS7000215: Invalid client secret provided.',
        });
      }
      const now = Math.floor(Date.now() / 1000);
      const token = this.jwt({
        aud: 'https://api.botframework.com',
        iss: `https://sts.windows.net/${this.app.tenantId}/`,
        appid: this.app.appId,
        tid: this.app.tenantId,
        jti: randomBytes(8).toString('hex'),
        nbf: now,
        iat: now,
        exp: now + 3599,
      });
      this.issuedTokens.add(token);
      return json(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
    }
    const conversation = /^\/v3\/conversations\/([^/]+)\/(activities|members)(?:\/([^/]+))?$/.exec(path);
    if (!conversation) return json(404, { error: { code: 'NotFound', message: `no route ${req.method} ${path}` } });
    if (!this.issuedTokens.has((req.headers.authorization ?? '').replace(/^Bearer /, '')))
      return json(401, { message: 'Authorization has been denied for this request.' });
    const conversationId = decodeURIComponent(conversation[1]!);
    if (conversation[2] === 'members') return json(200, []);
    const activity = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
    const target = conversation[3] ? decodeURIComponent(conversation[3]) : undefined;
    if (req.method === 'PUT' && target) {
      this.sent.push({ kind: 'update', conversationId, activityId: target, activity, at: Date.now() });
      return json(200, { id: target });
    }
    if (req.method === 'POST') {
      const activityId = `1700000000${String(++this.activityCounter).padStart(3, '0')}`;
      this.sent.push({ kind: target ? 'reply' : 'send', conversationId, activityId, activity, at: Date.now() });
      return json(201, { id: activityId });
    }
    return json(405, { error: { code: 'MethodNotAllowed', message: req.method } });
  }
}
