import type { PrioritizedAssetPatch, PrioritizedFinding } from '../../prioritization/query.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr } from './args.ts';
import type { CliCommand } from './types.ts';

type Answer =
  | { view: string; by: 'finding'; items: PrioritizedFinding[] }
  | { view: string; by: 'asset-patch'; items: PrioritizedAssetPatch[] };

export const findingPrioritizeCommands: CliCommand[] = [
  {
    path: ['findings', 'prioritize'],
    summary: 'open findings by risk, with SSVC decision, SLA deadline and why',
    usage:
      '[--view all|overdue|due-soon] [--by finding|asset-patch] [--policy default|bod-26-04] [--limit <n>] [--json]',
    options: {
      view: { type: 'string' },
      by: { type: 'string' },
      policy: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run({ values }) {
      const q = new URLSearchParams();
      for (const k of ['view', 'by', 'policy', 'limit']) {
        const v = values[k];
        if (typeof v === 'string') q.set(k, v);
      }
      const answer = await apiRequest<Answer>('GET', `/api/findings/prioritized${q.size ? `?${q}` : ''}`);
      printJsonOr(values, answer.items, () => {
        if (answer.items.length === 0) return `no open findings in view ${answer.view}`;
        return answer.by === 'asset-patch'
          ? answer.items.map((i) => `${i.score.toFixed(1).padStart(5)}  ${i.explanation}`).join('\n')
          : answer.items
              .map(
                (i) =>
                  `${i.score.toFixed(1).padStart(5)}  ${i.hostname.padEnd(20)} ${(i.cveId ?? i.title).padEnd(16)} ${i.explanation}`,
              )
              .join('\n');
      });
      return 0;
    },
  },
];
