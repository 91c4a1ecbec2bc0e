import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectorEnvVariables } from '../../integrations/contract/env.ts';
import { connectorDefinitions } from '../../integrations/registry.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const definitions = new Map(connectorDefinitions.map((d) => [d.id, d]));

/** The headings a position of the README falls under, e.g. `## Change records… › ### ServiceNow › #### Settings`. */
function headingAt(text: string, at: number): string {
  const chain: string[] = [];
  for (const [heading, hashes] of text.slice(0, at).matchAll(/^(#{2,4}) .*$/gm)) {
    chain.length = hashes!.length - 2;
    chain.push(heading);
  }
  return chain.join(' › ') || '(top)';
}

/** Every ```json block of the README that configures connectors, with the heading it is under. */
function connectorBlocks(text: string): { section: string; settings: Record<string, unknown> }[] {
  return [...text.matchAll(/^\s*```json\n([\s\S]*?)^\s*```$/gm)].flatMap((m) => {
    // Other blocks show fragments (a policy, a rule) that need not be whole JSON documents.
    if (!m[1]!.includes('"connectors"')) return [];
    const section = headingAt(text, m.index);
    let parsed: unknown;
    try {
      parsed = JSON.parse(m[1]!);
    } catch (err) {
      throw new Error(`README ${section}: a json block is not JSON: ${(err as Error).message}`);
    }
    const connectors = (parsed as { connectors?: unknown } | null)?.connectors;
    if (connectors === undefined) return [];
    if (!connectors || typeof connectors !== 'object')
      throw new Error(`README ${section}: "connectors" is not an object of connector settings`);
    return [{ section, settings: connectors as Record<string, unknown> }];
  });
}

/**
 * Paths of keys in `value` that `schema` does not declare. Connector schemas strip unknown keys,
 * so a misspelt setting would parse and be silently dropped: this finds it.
 */
function undeclaredKeys(schema: z.ZodType, value: unknown, path: (string | number)[] = []): string[] {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodNullable)
    return undeclaredKeys(schema.unwrap() as z.ZodType, value, path);
  if (schema instanceof z.ZodPipe) return undeclaredKeys(schema.in as z.ZodType, value, path);
  if (schema instanceof z.ZodUnion) {
    const each = (schema.options as z.ZodType[]).map((option) => undeclaredKeys(option, value, path));
    return each.some((keys) => keys.length === 0) ? [] : each[0]!;
  }
  if (schema instanceof z.ZodArray && Array.isArray(value))
    return value.flatMap((v, i) => undeclaredKeys(schema.element as z.ZodType, v, [...path, i]));
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  const entries = Object.entries(value as Record<string, unknown>);
  if (schema instanceof z.ZodRecord)
    return entries.flatMap(([k, v]) => undeclaredKeys(schema.valueType as z.ZodType, v, [...path, k]));
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, z.ZodType>;
    // A strict object (catchall never) has zod name its unknown keys itself; another catchall allows them.
    const ownsUnknown = schema.def.catchall !== undefined;
    return entries.flatMap(([k, v]) =>
      shape[k] ? undeclaredKeys(shape[k], v, [...path, k]) : ownsUnknown ? [] : [[...path, k].join('.')],
    );
  }
  return [];
}

/** What is wrong with the settings a README section shows, one line per setting, or nothing. */
function settingProblems(section: string, settings: Record<string, unknown>): string[] {
  return Object.entries(settings).flatMap(([id, raw]) => {
    const def = definitions.get(id);
    if (!def)
      return [`README ${section}: connectors.${id}: no such connector; known: ${[...definitions.keys()].join(', ')}`];
    const parsed = def.configSchema.safeParse(raw ?? {});
    const invalid = parsed.success
      ? []
      : parsed.error.issues.map(
          (i) => `README ${section}: connectors.${[id, ...i.path.map(String)].join('.')}: ${i.message}`,
        );
    const unknown = undeclaredKeys(def.configSchema, raw).map(
      (key) => `README ${section}: connectors.${id}.${key}: connector ${id} has no such setting`,
    );
    return [...invalid, ...unknown];
  });
}

const blocks = connectorBlocks(readme);

/** The settings the README shows for connector `id` (its first example). */
function shown(id: string): object {
  const found = blocks.find((b) => id in b.settings);
  expect(found, `a README example of connectors.${id}`).toBeDefined();
  return found!.settings[id] as object;
}

describe('the README’s connector settings, as written', () => {
  it('finds the examples it checks', () => {
    // Guards the checks below: a parser that found no block would pass them vacuously.
    expect(blocks.map((b) => b.section)).toEqual(
      expect.arrayContaining([
        '## Connectors',
        '## Change records in ServiceNow and Jira Service Management › ### ServiceNow › #### Settings',
        '## Change records in ServiceNow and Jira Service Management › ### Jira Service Management (Cloud) › #### Settings',
      ]),
    );
    expect(blocks.flatMap((b) => Object.keys(b.settings))).toEqual(
      expect.arrayContaining(['ansible', 'awx', 'wsus', 'sccm', 'pdq', 'servicenow', 'jira-sm']),
    );
  });

  it.each(blocks.map((b) => [`${b.section} (${Object.keys(b.settings).join(', ')})`, b] as const))(
    '%s: every connector’s settings parse with its own schema, and none is unknown',
    (_name, { section, settings }) => {
      expect(settingProblems(section, settings)).toEqual([]);
    },
  );

  it('names the README section and the setting’s path when a shown setting is wrong or unknown', () => {
    const wsus = { endpoint: 'https://wsus01.example.com:5986/wsman', username: 'svc', password: '…' };
    expect(settingProblems('## Connectors', { wsus })).toEqual([]);
    expect(settingProblems('## Connectors', { wsus: { ...wsus, pasword: '…' } })).toEqual([
      'README ## Connectors: connectors.wsus.pasword: connector wsus has no such setting',
    ]);
    expect(
      settingProblems('#### Settings', { 'jira-sm': { ...shown('jira-sm'), transitions: { implemnt: 'Implement' } } }),
    ).toEqual(
      expect.arrayContaining(['README #### Settings: connectors.jira-sm.transitions: Unrecognized key: "implemnt"']),
    );
    const sccm = shown('sccm');
    expect(settingProblems('## Connectors', { sccm: { ...sccm, collections: { test: 'PS1' } } })).toEqual([
      expect.stringMatching(/^README ## Connectors: connectors\.sccm\.collections\.test: a collection ID/),
    ]);
    expect(
      settingProblems('## Connectors', { sccm: { ...sccm, package: { packageId: 'PS100034', distPointGroups: [] } } }),
    ).toEqual(['README ## Connectors: connectors.sccm.package.distPointGroups: connector sccm has no such setting']);
    expect(settingProblems('## Connectors', { wsuss: wsus })).toEqual([
      expect.stringMatching(/^README ## Connectors: connectors\.wsuss: no such connector; known: ansible, /),
    ]);
  });
});

/**
 * The sections whose table gives a connector's settings with their environment variables
 * (`| \`SLACK_BOT_TOKEN\` | \`botToken\` | …` or `| \`instanceUrl\` | \`SERVICENOW_INSTANCE_URL\` | …`).
 */
const envTables = [
  ['### 3. Installing the Slack app', 'slack'],
  ['### 4. Installing the Microsoft Teams app', 'teams'],
  ['### ServiceNow', 'servicenow'],
  ['### Jira Service Management (Cloud)', 'jira-sm'],
] as const;

/** The rows of the one settings-and-variables table in the README section under `heading`. */
function envTableRows(heading: string): { settings: string[]; variables: string[]; line: string }[] {
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start, heading).toBeGreaterThan(0);
  const next = readme.slice(start + heading.length + 2).search(/^#{2,3} /m);
  const section = next < 0 ? readme.slice(start) : readme.slice(start, start + heading.length + 2 + next);
  const lines = section.split('\n').map((l) => l.trim());
  const headerAt = lines.findIndex((l) => /^\|.*setting.*\|/.test(l) && /env var|environment/.test(l));
  expect(headerAt, `${heading}: a table of settings and environment variables`).toBeGreaterThan(0);
  const header = lines[headerAt]!.split('|').slice(1, -1);
  const settingColumn = header.findIndex((c) => /setting/.test(c));
  const envColumn = header.findIndex((c) => /env var|environment/.test(c));
  const rows = [];
  for (const line of lines.slice(headerAt + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1);
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const variables: string[] = [];
    // `JIRA_SM_TRANSITION_AUTHORIZE`, `_ASSESS`: a name starting with `_` shares the first one's stem.
    for (const name of names(cells[envColumn]!))
      variables.push(name.startsWith('_') ? `${variables[0]!.replace(/_[A-Z]+$/, '')}${name}` : name);
    rows.push({ settings: names(cells[settingColumn]!).filter((n) => /^[a-z][\w.]*$/i.test(n)), variables, line });
  }
  return rows;
}

describe('the README’s connector environment variables, as written', () => {
  it.each(envTables)('%s: each variable is one %s reads, for the setting it is shown beside', (heading, id) => {
    const read = connectorEnvVariables(definitions.get(id)!);
    const rows = envTableRows(heading);
    expect(rows.length, heading).toBeGreaterThan(2);
    const problems = rows.flatMap(({ settings, variables, line }) => [
      ...variables
        .filter((v) => !Object.values(read).includes(v))
        .map((v) => `README ${heading}: ${v} is not a variable ${id} reads (${line})`),
      ...settings
        .filter((s) => !(s in read))
        .map((s) => `README ${heading}: ${id} has no setting ${s} read from the environment (${line})`),
      // Settings and variables side by side name each other in order; `transitions.authorize` … stands for all stages.
      ...(settings.length === variables.length
        ? settings.flatMap((s, i) =>
            s in read && read[s] !== variables[i]
              ? [`README ${heading}: ${s} is read from ${read[s]}, not ${variables[i]}`]
              : [],
          )
        : []),
    ]);
    expect(problems).toEqual([]);
  });
});
