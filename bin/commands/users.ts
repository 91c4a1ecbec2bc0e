import type { User } from '../../db/repositories/users.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr, requirePositional } from './args.ts';
import type { CliCommand } from './types.ts';

export const userCommands: CliCommand[] = [
  {
    path: ['users', 'add'],
    summary: 'add or update a user and their roles (approver, coordinator, manager, viewer)',
    usage:
      '<id> --role <role>… [--group <approver group>…] [--name <display name>] [--slack <U…>] [--teams <aad object id>] [--json]',
    options: {
      role: { type: 'string', multiple: true },
      group: { type: 'string', multiple: true },
      name: { type: 'string' },
      slack: { type: 'string' },
      teams: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'id');
      const user = await apiRequest<User>('PUT', `/api/users/${encodeURIComponent(id)}`, {
        roles: values['role'] ?? [],
        groups: values['group'] ?? [],
        displayName: values['name'],
        slackUserId: values['slack'],
        teamsAadId: values['teams'],
      });
      printJsonOr(
        values,
        user,
        () => `${user.id}: ${user.roles.join(', ')}${user.groups.length ? ` (groups: ${user.groups.join(', ')})` : ''}`,
      );
      return 0;
    },
  },
  {
    path: ['users', 'list'],
    summary: 'list users and their roles',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const { users } = await apiRequest<{ users: User[] }>('GET', '/api/users');
      printJsonOr(values, users, () =>
        users
          .map(
            (u) =>
              `${u.id.padEnd(12)} ${u.roles.join(',').padEnd(24)} ${u.groups.join(',').padEnd(20)} ${u.displayName}`,
          )
          .join('\n'),
      );
      return 0;
    },
  },
];
