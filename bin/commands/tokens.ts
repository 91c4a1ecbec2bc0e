import { z } from 'zod';
import { durationMs, durationSchema } from '../../kernel/duration.ts';
import { InputError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { scopeSchema } from '../../security/principal.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr, requireOption, requirePositional } from './args.ts';
import type { CliCommand } from './types.ts';

const tokenInfoSchema = z.object({
  id: z.string(),
  userId: z.string(),
  name: z.string(),
  scopes: z.array(scopeSchema),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
type TokenInfo = z.infer<typeof tokenInfoSchema>;
const createdSchema = z.object({ token: z.string(), info: tokenInfoSchema });
const listSchema = z.object({ tokens: z.array(tokenInfoSchema) });
const principalSchema = z.object({
  userId: z.string(),
  roles: z.array(z.string()),
  scopes: z.array(scopeSchema),
  via: z.string(),
});

const scopesOption = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()))
  .pipe(z.array(scopeSchema).min(1));

function state(t: TokenInfo, now = Date.now()): string {
  if (t.revokedAt) return `revoked ${t.revokedAt}`;
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return `expired ${t.expiresAt}`;
  return t.expiresAt ? `expires ${t.expiresAt}` : 'never expires';
}

export const tokenCommands: CliCommand[] = [
  {
    path: ['tokens', 'create'],
    summary: 'make an API token (shown once): your own, or as an admin a service token for --user',
    usage: '<name> --scopes read,operate,approve,admin [--expires 90d] [--user <id>] [--json]',
    options: {
      scopes: { type: 'string' },
      expires: { type: 'string' },
      user: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run({ values, positionals }) {
      const name = requirePositional(positionals, 0, 'name');
      const scopes = scopesOption.safeParse(requireOption(values, 'scopes'));
      if (!scopes.success)
        throw new InputError('--scopes: a comma-separated list of read, operate, approve, admin', [
          { path: ['--scopes'], message: scopes.error.issues[0]?.message ?? 'invalid' },
        ]);
      const expires = typeof values['expires'] === 'string' ? values['expires'] : undefined;
      const duration = expires === undefined ? undefined : durationSchema.safeParse(expires);
      if (duration && !duration.success)
        throw new InputError(`--expires: "${expires}" is not a duration such as 90d or 12h`, [
          { path: ['--expires'], message: 'a duration such as 90d or 12h' },
        ]);
      const created = parseInput(
        createdSchema,
        await apiRequest('POST', '/api/tokens', {
          name,
          scopes: scopes.data,
          ...(duration?.data ? { expiresAt: new Date(Date.now() + durationMs(duration.data)).toISOString() } : {}),
          ...(typeof values['user'] === 'string' ? { userId: values['user'] } : {}),
        }),
        'server answer',
      );
      printJsonOr(
        values,
        created,
        () =>
          `${created.token}\n\nToken ${created.info.id} "${created.info.name}" for ${created.info.userId} (${created.info.scopes.join(', ')}; ${state(created.info)}).\nIt is shown this once: keep it in a secret store and send it as Authorization: Bearer <token>, or set PATCHFLOW_TOKEN.`,
      );
      return 0;
    },
  },
  {
    path: ['tokens', 'list'],
    summary: 'your API tokens, or as an admin those of --user or --all',
    usage: '[--user <id> | --all] [--json]',
    options: { user: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' } },
    async run({ values }) {
      const query = values['all']
        ? '?all=true'
        : typeof values['user'] === 'string'
          ? `?user=${encodeURIComponent(values['user'])}`
          : '';
      const { tokens } = parseInput(listSchema, await apiRequest('GET', `/api/tokens${query}`), 'server answer');
      printJsonOr(values, tokens, () =>
        tokens.length
          ? tokens
              .map(
                (t) =>
                  `${t.id}  ${t.userId.padEnd(12)} ${t.name.padEnd(24)} ${t.scopes.join(',').padEnd(26)} ${state(t)}; last used ${t.lastUsedAt ?? 'never'}`,
              )
              .join('\n')
          : 'no tokens',
      );
      return 0;
    },
  },
  {
    path: ['tokens', 'revoke'],
    summary: 'revoke an API token at once (yours, or as an admin anyone’s)',
    usage: '<token-id> [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'token-id');
      const revoked = parseInput(
        tokenInfoSchema,
        await apiRequest('DELETE', `/api/tokens/${encodeURIComponent(id)}`),
        'server answer',
      );
      printJsonOr(values, revoked, () => `revoked token ${revoked.id} "${revoked.name}" of ${revoked.userId}`);
      return 0;
    },
  },
  {
    path: ['whoami'],
    summary: 'who the CLI acts as on this server, with the credential’s scopes',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const me = parseInput(principalSchema, await apiRequest('GET', '/api/whoami'), 'server answer');
      printJsonOr(values, me, () => `${me.userId} (${me.roles.join(', ')}); scopes ${me.scopes.join(', ')}`);
      return 0;
    },
  },
];
