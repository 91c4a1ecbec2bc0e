import type { Knex } from 'knex';
import type { StagingCheckResult } from '../../workflows/types.ts';

/** Records a run of the staging checks; a retried run replaces what an earlier attempt saw. */
export async function saveStagingChecks(db: Knex, cycleId: string, results: StagingCheckResult[]): Promise<void> {
  if (results.length === 0) return;
  await db('staging_checks')
    .insert(results.map((r) => ({ cycle_id: cycleId, ...r })))
    .onConflict(['cycle_id', 'name', 'hostname'])
    .merge(['kind', 'passed', 'detail', 'checked_at']);
}

export async function stagingChecks(db: Knex, cycleId: string): Promise<StagingCheckResult[]> {
  return (await db('staging_checks')
    .where({ cycle_id: cycleId })
    .orderBy(['name', 'hostname'])
    .select('name', 'kind', 'hostname', 'passed', 'detail')) as StagingCheckResult[];
}
