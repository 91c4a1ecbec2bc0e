import type { Knex } from 'knex';
import * as m001 from './001_core.ts';
import * as m002 from './002_asset_groups.ts';
import * as m003 from './003_prioritization.ts';
import * as m004 from './004_change_approval.ts';
import * as m005 from './005_change_records.ts';
import * as m006 from './006_api_tokens.ts';
import * as m007 from './007_first_post_claims.ts';
import * as m008 from './008_host_claims.ts';
import * as m009 from './009_staging_checks.ts';
import * as m010 from './010_finding_closure.ts';
import * as m011 from './011_attempt_heartbeats.ts';
import * as m012 from './012_cisa_ssvc.ts';
import * as m013 from './013_applicability.ts';
import * as m014 from './014_verification_evidence.ts';
import * as m015 from './015_classification_vocabulary.ts';
import * as m017 from './017_audit_checkpoints.ts';
import * as m018 from './018_asset_history_indexes.ts';

interface Migration {
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

// Migrations are listed here, not discovered from disk, so they work the same under tsx, in a bundle and with PGlite.
const migrations: Record<string, Migration> = {
  '001_core': m001,
  '002_asset_groups': m002,
  '003_prioritization': m003,
  '004_change_approval': m004,
  '005_change_records': m005,
  '006_api_tokens': m006,
  '007_first_post_claims': m007,
  '008_host_claims': m008,
  '009_staging_checks': m009,
  '010_finding_closure': m010,
  '011_attempt_heartbeats': m011,
  '012_cisa_ssvc': m012,
  '013_applicability': m013,
  '014_verification_evidence': m014,
  '015_classification_vocabulary': m015,
  '017_audit_checkpoints': m017,
  '018_asset_history_indexes': m018,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const m = migrations[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return m;
  },
};
