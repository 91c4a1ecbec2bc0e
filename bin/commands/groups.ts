import type { AssetGroup } from '../../db/repositories/asset-groups.ts';
import type { Asset } from '../../db/repositories/assets.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr, requireOption, requirePositional } from './args.ts';
import { assetTable } from './assets.ts';
import type { CliCommand } from './types.ts';

const groupPath = (positionals: string[]) =>
  `/api/groups/${encodeURIComponent(requirePositional(positionals, 0, 'name'))}`;

export const groupCommands: CliCommand[] = [
  {
    path: ['groups', 'list'],
    summary: 'saved dynamic asset groups with their queries and current member counts',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const { groups } = await apiRequest<{ groups: AssetGroup[] }>('GET', '/api/groups');
      printJsonOr(values, groups, () =>
        groups.length
          ? groups.map((g) => `${g.name.padEnd(20)} ${String(g.members).padStart(5)}  ${g.query}`).join('\n')
          : '(no groups)',
      );
      return 0;
    },
  },
  {
    path: ['groups', 'show'],
    summary: 'a group and the assets its query matches now',
    usage: '<name> [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const group = await apiRequest<AssetGroup & { assets: Asset[] }>('GET', groupPath(positionals));
      printJsonOr(
        values,
        group,
        () => `${group.name}: ${group.query} (${group.members} assets)\n${assetTable(group.assets)}`,
      );
      return 0;
    },
  },
  {
    path: ['groups', 'save'],
    summary: 'create or replace a dynamic group, e.g. --query "platform=windows or tag=pci"',
    usage: '<name> --query "<expr>" [--description <text>] [--json]',
    options: { query: { type: 'string' }, description: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const group = await apiRequest<AssetGroup>('PUT', groupPath(positionals), {
        query: requireOption(values, 'query'),
        description: values['description'],
      });
      printJsonOr(values, group, () => `saved ${group.name}: ${group.members} asset(s) match now`);
      return 0;
    },
  },
  {
    path: ['groups', 'delete'],
    summary: 'delete a saved group (its assets are untouched)',
    usage: '<name>',
    async run({ positionals }) {
      await apiRequest('DELETE', groupPath(positionals));
      return 0;
    },
  },
];
