import type { DemoIntake } from '../../app/demo-intake.ts';
import { apiRequest } from '../api.ts';
import { printJsonOr } from './args.ts';
import type { CliCommand } from './types.ts';

export const demoCommands: CliCommand[] = [
  {
    path: ['demo', 'seed'],
    summary: 'load the demo fleet, people and intake (a scan of the demo hosts, KEV and EPSS facts)',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const seeded = await apiRequest<DemoIntake>('POST', '/api/demo/seed');
      printJsonOr(values, seeded, () =>
        [
          `scan: ${seeded.scan.hosts} hosts, ${seeded.scan.findings} findings, ${seeded.scan.cves} CVEs`,
          'KEV and EPSS facts loaded for those CVEs',
          'next: npx patchflow findings prioritize',
        ].join('\n'),
      );
      return 0;
    },
  },
];
