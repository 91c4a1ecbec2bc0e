import { readFile } from 'node:fs/promises';
import { InputError } from '../../kernel/errors.ts';
import type { Baseline, BaselineVerdict } from '../../prioritization/baselines.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr, requirePositional } from './args.ts';
import type { CliCommand } from './types.ts';

export const baselineCommands: CliCommand[] = [
  {
    path: ['baselines', 'list'],
    summary: 'patch baselines (per-platform auto-approval rules)',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const { baselines } = await apiRequest<{ baselines: Baseline[] }>('GET', '/api/baselines');
      printJsonOr(values, baselines, () =>
        baselines
          .map(
            (b) =>
              `${b.id.padEnd(20)} ${b.platform.padEnd(28)} ${b.rules.length} rule(s), ${b.approve.length} approved, ${b.reject.length} rejected`,
          )
          .join('\n'),
      );
      return 0;
    },
  },
  {
    path: ['baselines', 'set'],
    summary: 'create or replace a baseline from a JSON file',
    usage: '<id> <file.json> [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'id');
      const file = requirePositional(positionals, 1, 'file');
      let body: unknown;
      try {
        body = JSON.parse(await readFile(file, 'utf8')) as unknown;
      } catch (err) {
        throw new InputError(`cannot read ${file} as JSON: ${(err as Error).message}`, [
          { path: ['<file>'], message: 'unreadable or not JSON' },
        ]);
      }
      const saved = await apiRequest<Baseline>('PUT', `/api/baselines/${encodeURIComponent(id)}`, body);
      printJsonOr(values, saved, () => `baseline ${saved.id} saved for ${saved.platform}`);
      return 0;
    },
  },
  {
    path: ['baselines', 'evaluate'],
    summary: 'which known patches a baseline approves, and why',
    usage: '<id> [--json]',
    options: { json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'id');
      const { results } = await apiRequest<{ results: ({ patchId: string } & BaselineVerdict)[] }>(
        'GET',
        `/api/baselines/${encodeURIComponent(id)}/evaluate`,
      );
      printJsonOr(values, results, () =>
        results.map((r) => `${r.approved ? 'APPROVED' : 'held   '} ${r.patchId.padEnd(24)} ${r.reason}`).join('\n'),
      );
      return 0;
    },
  },
];
