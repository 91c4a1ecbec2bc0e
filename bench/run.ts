/**
 * `npm run bench`: each benchmark prints its figures and its ratio against a baseline measured in
 * the same process, so that numbers compare across machines. Nothing here is asserted in tests.
 * Run one with `npm run bench -- <name>`.
 */
import { p1Cycle } from './p1-cycle.ts';
import { p2NessusImport } from './p2-nessus-import.ts';
import { p3Prioritize } from './p3-prioritize.ts';
import { p4SlackApproval } from './p4-slack-approval.ts';

export interface Benchmark {
  name: string;
  summary: string;
  run(): Promise<void>;
}

const benchmarks: Benchmark[] = [p1Cycle, p2NessusImport, p3Prioritize, p4SlackApproval];

const only = process.argv.slice(2);
for (const b of benchmarks) {
  if (only.length && !only.includes(b.name)) continue;
  console.log(`\n== ${b.name}: ${b.summary}`);
  await b.run();
}
