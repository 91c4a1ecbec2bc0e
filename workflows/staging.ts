import type { StagingCheckResult } from './types.ts';

/** `2 of 3 staging check(s) passed; failed: health on staging-01 (HTTP 500 …)`: for the card, the record and the halt reason. */
export function describeStagingChecks(results: StagingCheckResult[]): string {
  const failed = results.filter((r) => !r.passed);
  const head = `${results.length - failed.length} of ${results.length} staging check(s) passed`;
  return failed.length
    ? `${head}; failed: ${failed.map((r) => `${r.name} on ${r.hostname} (${r.detail})`).join('; ')}`
    : head;
}
