import type { CycleControlState } from '../../workflows/cycle-control.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr, requirePositional } from './args.ts';
import type { CliCommand } from './types.ts';

const summaries = {
  pause: 'hold an approved rollout before its next ring',
  resume: 'let a paused rollout go on',
  cancel: 'stop an approved rollout before its next ring',
} as const;

export const cycleControlCommands: CliCommand[] = (['pause', 'resume', 'cancel'] as const).map((verb) => ({
  path: ['cycle', verb],
  summary: `${summaries[verb]} (coordinators)`,
  usage: '<id> [--reason <text>] [--as <local user>] [--json]',
  options: { reason: { type: 'string' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    const id = requirePositional(positionals, 0, 'id');
    const state = await apiRequest<CycleControlState>('POST', `/api/cycles/${encodeURIComponent(id)}/${verb}`, {
      reason: values['reason'],
      channel: 'cli',
    });
    printJsonOr(
      values,
      state,
      () =>
        `cycle ${state.cycleId}: ${state.status}${state.paused ? ' (paused)' : ''}${state.cancelled ? ' (cancelling before the next ring)' : ''}`,
    );
    return 0;
  },
}));
