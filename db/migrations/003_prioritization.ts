import type { Knex } from 'knex';

/**
 * What advisory feeds and risk-based prioritisation add to the core model: the strongest
 * exploitation evidence a feed has reported for a CVE, per-platform patch baselines, and the
 * indexes that let the prioritised-findings query join a million findings to their CVE facts.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('cves', (t) => {
    // 'poc' (public exploit, exploit-tagged reference) or 'active' (exploited in the wild per a vendor or CISA ADP); KEV is kept apart in cves.kev.
    t.text('exploit_evidence');
  });
  await db.raw(
    `alter table cves add constraint cves_exploit_evidence_kind check (exploit_evidence in ('poc','active'))`,
  );
  // SSVC decision points that follow from the CVSS vector alone, kept beside it so that scoring a
  // million findings reads two booleans instead of matching regexes per finding.
  const has = (col: string, metric: string) => `${col} ~ '/${metric}(/|$)'`;
  const v4 = (m: string) => has('cvss_v4_vector', m);
  const v3 = (m: string) => has('cvss_v3_vector', m);
  await db.raw(`alter table cves
    -- SSVC Automatable: the CVSS 4.0 AU supplemental metric when stated, else network-reachable, low complexity, no privileges, no user.
    add column automatable boolean generated always as (case
      when ${v4('AU:Y')} then true
      when ${v4('AU:N')} then false
      when cvss_v4_vector is not null then ${v4('AV:N')} and ${v4('AC:L')} and ${v4('AT:N')} and ${v4('PR:N')} and ${v4('UI:N')}
      when cvss_v3_vector is not null then ${v3('AV:N')} and ${v3('AC:L')} and ${v3('PR:N')} and ${v3('UI:N')}
    end) stored,
    -- SSVC Technical Impact "total", per CERT/CC's CVSS-to-technical-impact mapping: C:H and I:H, or one high and one low without privileges.
    add column total_impact boolean generated always as (case
      when cvss_v4_vector is not null then (${v4('VC:H')} and ${v4('VI:H')}) or (${v4('PR:N')} and ((${v4('VC:H')} and ${v4('VI:L')}) or (${v4('VC:L')} and ${v4('VI:H')})))
      when cvss_v3_vector is not null then (${v3('C:H')} and ${v3('I:H')}) or (${v3('PR:N')} and ((${v3('C:H')} and ${v3('I:L')}) or (${v3('C:L')} and ${v3('I:H')})))
    end) stored,
    -- float8 copies of what ranking multiplies: numeric to float8 goes through text, too slow per finding at 1M rows.
    add column score_cvss double precision generated always as (coalesce(cvss_v4_score, cvss_v3_score)::float8) stored,
    add column score_epss double precision generated always as (epss::float8) stored,
    add column score_epss_percentile double precision generated always as (epss_percentile::float8) stored`);

  await db.schema.createTable('patch_baselines', (t) => {
    t.text('id').primary();
    t.text('platform').notNullable();
    t.jsonb('rules').notNullable();
    t.specificType('approve', 'text[]').notNullable().defaultTo('{}');
    t.specificType('reject', 'text[]').notNullable().defaultTo('{}');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });

  await db.raw(`create index findings_open_cve_idx on findings (cve_id) where status = 'open'`);
  await db.raw('create index patch_cves_cve_idx on patch_cves (cve_id)');
  await db.raw('create index advisory_cves_cve_idx on advisory_cves (cve_id)');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists advisory_cves_cve_idx');
  await db.raw('drop index if exists patch_cves_cve_idx');
  await db.raw('drop index if exists findings_open_cve_idx');
  await db.schema.dropTableIfExists('patch_baselines');
  await db.schema.alterTable('cves', (t) => {
    t.dropColumns('score_epss_percentile', 'score_epss', 'score_cvss', 'total_impact');
    t.dropColumn('automatable');
    t.dropColumn('exploit_evidence');
  });
}
