import * as client from 'openid-client';
import { z } from 'zod';
import { PatchflowError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { apiRequest, serverUrl } from '../api.ts';
import { discoverProvider } from '../../security/oidc.ts';
import { credentialsFile, forgetSignIn, saveSignIn, savedFromTokens } from '../sign-in.ts';
import type { CliCommand } from './types.ts';

const authConfigSchema = z.object({
  oidc: z.object({ cli: z.object({ issuer: z.string(), clientId: z.string(), scope: z.string() }) }).nullable(),
});
const whoamiSchema = z.object({ userId: z.string(), roles: z.array(z.string()) });

export const signInCommands: CliCommand[] = [
  {
    path: ['login'],
    summary: 'sign in to the server through its OpenID provider (device code: open a link, enter a code)',
    usage: '',
    async run() {
      const server = serverUrl();
      const { oidc } = parseInput(
        authConfigSchema,
        await apiRequest('GET', '/auth/config', undefined, { anonymous: true }),
        'server answer',
      );
      if (!oidc)
        throw new PatchflowError(
          `${server} runs in local mode, without an identity provider: on its machine the CLI uses the local tokens; elsewhere set PATCHFLOW_TOKEN to an API token (\`patchflow tokens create\`)`,
          { code: 'usage' },
        );
      const { issuer, clientId, scope } = oidc.cli;
      const config = await discoverProvider(issuer, clientId);
      const device = await client.initiateDeviceAuthorization(config, { scope });
      process.stderr.write(
        `First copy your one-time code: ${device.user_code}\nThen open ${device.verification_uri_complete ?? device.verification_uri} in a browser and sign in.\nWaiting (up to ${Math.round(device.expires_in / 60)} minutes)…\n`,
      );
      const tokens = await client.pollDeviceAuthorizationGrant(config, device);
      saveSignIn(process.env, server, savedFromTokens(issuer, clientId, tokens));
      const me = parseInput(whoamiSchema, await apiRequest('GET', '/api/whoami'), 'server answer');
      process.stdout.write(`Signed in to ${server} as ${me.userId} (${me.roles.join(', ')}).\n`);
      return 0;
    },
  },
  {
    path: ['logout'],
    summary: 'forget the sign-in to the server (and revoke its refresh token at the provider)',
    usage: '',
    async run() {
      const server = serverUrl();
      const saved = forgetSignIn(process.env, server);
      if (!saved) {
        process.stdout.write(`not signed in to ${server} (${credentialsFile()})\n`);
        return 0;
      }
      // Best effort: a provider without a revocation endpoint just lets the token run out.
      if (saved.refreshToken)
        await discoverProvider(saved.issuer, saved.clientId)
          .then((config) => client.tokenRevocation(config, saved.refreshToken!))
          .catch(() => undefined);
      process.stdout.write(`Signed out of ${server}.\n`);
      return 0;
    },
  },
];
