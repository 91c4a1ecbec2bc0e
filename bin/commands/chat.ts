import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { slackManifest } from '../../integrations/slack/manifest.ts';
import { teamsAppPackage } from '../../integrations/teams/app-package.ts';
import { parseInput } from '../../kernel/validate.ts';
import type { CliCommand } from './types.ts';

const teamsPackageSchema = z.object({
  appId: z.uuid("the bot's Microsoft App ID (--app-id or TEAMS_APP_ID)"),
  publicUrl: z
    .url('the https URL Teams reaches this server at (--url)')
    .refine((u) => u.startsWith('https://'), 'Teams requires https'),
  applicationIdUri: z.string().min(1).optional(),
  out: z.string().min(1),
});

export const chatCommands: CliCommand[] = [
  {
    path: ['slack', 'manifest'],
    summary: 'print the Slack app manifest (paste it at api.slack.com/apps → Create New App → From a manifest)',
    usage: '--url <public base URL of this server> [--command /patch] [--name <app name>]',
    options: { url: { type: 'string' }, command: { type: 'string' }, name: { type: 'string' } },
    async run({ values }) {
      const publicUrl = typeof values['url'] === 'string' ? values['url'] : 'https://patchflow.example.com';
      const manifest = slackManifest({
        publicUrl,
        command: typeof values['command'] === 'string' ? values['command'] : '/patch',
        ...(typeof values['name'] === 'string' ? { name: values['name'] } : {}),
      });
      process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
      if (typeof values['url'] !== 'string')
        process.stderr.write(
          'note: no --url given; replace https://patchflow.example.com with the address Slack reaches this server at\n',
        );
      return 0;
    },
  },
  {
    path: ['teams', 'package'],
    summary:
      'build the Teams app package (manifest.json and icons, zipped) to upload in Teams admin center or Developer Portal',
    usage: '--url <public https URL> [--app-id <Microsoft App ID>] [--app-id-uri <api://…>] [--out <file.zip>]',
    options: {
      url: { type: 'string' },
      'app-id': { type: 'string' },
      'app-id-uri': { type: 'string' },
      out: { type: 'string' },
    },
    async run({ values }) {
      const opts = parseInput(
        teamsPackageSchema,
        {
          appId: values['app-id'] ?? process.env['TEAMS_APP_ID'],
          publicUrl: values['url'],
          applicationIdUri: values['app-id-uri'] ?? process.env['TEAMS_APPLICATION_ID_URI'],
          out: path.resolve(typeof values['out'] === 'string' ? values['out'] : 'patchflow-teams.zip'),
        },
        'teams package options',
      );
      writeFileSync(opts.out, teamsAppPackage(opts));
      process.stdout.write(
        `Teams app package written to ${opts.out}\nupload it in Teams admin center → Teams apps → Manage apps → Upload new app\n`,
      );
      return 0;
    },
  },
];
