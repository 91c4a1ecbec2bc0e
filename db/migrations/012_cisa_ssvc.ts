import type { Knex } from 'knex';

/**
 * SSVC decision points as CISA states them in its ADP container (Vulnrichment): Automatable and
 * Technical Impact. Where a record carries them they win; the values derived from the CVSS vector
 * (migration 003) apply only otherwise.
 */
const has = (col: string, metric: string) => `${col} ~ '/${metric}(/|$)'`;
const v4 = (m: string) => has('cvss_v4_vector', m);
const v3 = (m: string) => has('cvss_v3_vector', m);
const derivedAutomatable = `case
      when ${v4('AU:Y')} then true
      when ${v4('AU:N')} then false
      when cvss_v4_vector is not null then ${v4('AV:N')} and ${v4('AC:L')} and ${v4('AT:N')} and ${v4('PR:N')} and ${v4('UI:N')}
      when cvss_v3_vector is not null then ${v3('AV:N')} and ${v3('AC:L')} and ${v3('PR:N')} and ${v3('UI:N')}
    end`;
const derivedTotalImpact = `case
      when cvss_v4_vector is not null then (${v4('VC:H')} and ${v4('VI:H')}) or (${v4('PR:N')} and ((${v4('VC:H')} and ${v4('VI:L')}) or (${v4('VC:L')} and ${v4('VI:H')})))
      when cvss_v3_vector is not null then (${v3('C:H')} and ${v3('I:H')}) or (${v3('PR:N')} and ((${v3('C:H')} and ${v3('I:L')}) or (${v3('C:L')} and ${v3('I:H')})))
    end`;

export async function up(db: Knex): Promise<void> {
  await db.raw(`alter table cves
    add column cisa_automatable boolean,
    add column cisa_total_impact boolean,
    drop column automatable,
    drop column total_impact`);
  await db.raw(`alter table cves
    add column automatable boolean generated always as (coalesce(cisa_automatable, ${derivedAutomatable})) stored,
    add column total_impact boolean generated always as (coalesce(cisa_total_impact, ${derivedTotalImpact})) stored`);
}

export async function down(db: Knex): Promise<void> {
  await db.raw(`alter table cves drop column automatable, drop column total_impact`);
  await db.raw(`alter table cves
    add column automatable boolean generated always as (${derivedAutomatable}) stored,
    add column total_impact boolean generated always as (${derivedTotalImpact}) stored,
    drop column cisa_automatable,
    drop column cisa_total_impact`);
}
