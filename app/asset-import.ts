import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { appendAudit } from '../db/repositories/audit.ts';
import { assetInputSchema, upsertAssetRows } from '../db/repositories/assets.ts';
import { InputError, type ErrorDetail } from '../kernel/errors.ts';
import { parseCsv } from '../kernel/csv.ts';

export const assetFileFormatSchema = z.enum(['csv', 'json']);
export type AssetFileFormat = z.infer<typeof assetFileFormatSchema>;
type ValidAsset = z.output<typeof assetInputSchema>;

export interface AssetImportResult {
  imported: number;
  created: number;
  updated: number;
}

/** Import rows may not carry fields the schema does not know: a misspelt column would otherwise vanish silently. */
const importRowSchema = assetInputSchema.strict();

/** CSV headers as people write them (`Patch Group`, `os_version`, `IP`) mapped to asset fields. */
const csvColumns: Record<string, keyof ValidAsset> = {
  hostname: 'hostname',
  host: 'hostname',
  fqdn: 'fqdn',
  ip: 'ips',
  ips: 'ips',
  ipaddress: 'ips',
  ipaddresses: 'ips',
  platform: 'platform',
  os: 'osName',
  osname: 'osName',
  operatingsystem: 'osName',
  osversion: 'osVersion',
  mac: 'mac',
  macaddress: 'mac',
  hotpatch: 'hotpatch',
  owner: 'owner',
  businessservice: 'businessService',
  service: 'businessService',
  criticality: 'criticality',
  tier: 'criticality',
  exposure: 'exposure',
  patchgroup: 'patchGroup',
  tags: 'tags',
  tag: 'tags',
  source: 'source',
};
/** Inside one CSV cell, lists are separated by `;` or `|` (the comma already separates cells); IPs also by spaces. */
const listSplitters: Partial<Record<keyof ValidAsset, RegExp>> = { ips: /[;|\s]+/, tags: /[;|]/ };
/** Yes/no cells as spreadsheets write them; anything else is left for the schema to refuse by name. */
const csvBoolean = (text: string): boolean | string =>
  /^(true|yes|y|1)$/i.test(text) ? true : /^(false|no|n|0)$/i.test(text) ? false : text;
/** Enough problems to fix a file in one go without an unbounded error body. */
const MAX_REPORTED_PROBLEMS = 200;

interface RawRow {
  /** Shown to the user: the CSV line, or the 1-based position in a JSON array. */
  row: number;
  value: unknown;
  /** Set when the row is malformed before any field can be checked (a CSV line with the wrong number of cells). */
  problem?: string;
}

/** Validates every row of an inventory file; any problem rejects the whole file, listing each row and field. */
export function parseAssetFile(text: string, format: AssetFileFormat): ValidAsset[] {
  const rows = format === 'csv' ? rowsFromCsv(text) : rowsFromJson(text);
  const problems: ErrorDetail[] = [];
  const assets: ValidAsset[] = [];
  const rowByHostname = new Map<string, number>();
  for (const { row, value, problem } of rows) {
    if (problem) {
      problems.push({ path: ['row', row], message: problem });
      continue;
    }
    const parsed = importRowSchema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        problems.push({
          path: ['row', row, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))],
          message: issue.message,
        });
      continue;
    }
    const first = rowByHostname.get(parsed.data.hostname);
    if (first !== undefined) {
      problems.push({
        path: ['row', row, 'hostname'],
        message: `"${parsed.data.hostname}" already appears in row ${first}`,
      });
      continue;
    }
    rowByHostname.set(parsed.data.hostname, row);
    assets.push(parsed.data);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_REPORTED_PROBLEMS);
    const summary = shown
      .slice(0, 10)
      .map((p) => `row ${p.path[1]} ${p.path.slice(2).join('.') || '(row)'}: ${p.message}`)
      .join('; ');
    throw new InputError(
      `invalid asset import, nothing was imported: ${problems.length} problem(s): ${summary}${problems.length > 10 ? '; …' : ''}`,
      shown,
    );
  }
  return assets;
}

function rowsFromCsv(text: string): RawRow[] {
  const [header, ...records] = parseCsv(text);
  if (!header)
    throw new InputError('the CSV file is empty; expected a header row naming at least "hostname"', [
      { path: ['line', 1], message: 'no header row' },
    ]);
  const fields = header.fields.map((name, index) => {
    const field = csvColumns[name.toLowerCase().replace(/[^a-z]/g, '')];
    if (!field)
      throw new InputError(
        `CSV column ${index + 1} "${name}" is not an asset field; known: ${Object.keys(csvColumns).join(', ')}`,
        [{ path: ['column', name], message: 'unknown column' }],
      );
    return field;
  });
  if (!fields.includes('hostname'))
    throw new InputError('the CSV header has no "hostname" column', [
      { path: ['column', 'hostname'], message: 'required column missing' },
    ]);
  return records.map(({ line, fields: cells }) => {
    if (cells.length !== fields.length)
      return { row: line, value: undefined, problem: `${cells.length} cells where the header has ${fields.length}` };
    const value: Record<string, unknown> = {};
    cells.forEach((cell, i) => {
      const field = fields[i]!;
      const text = cell.trim();
      if (text === '') return;
      const splitter = listSplitters[field];
      value[field] =
        field === 'hotpatch'
          ? csvBoolean(text)
          : splitter
            ? text
                .split(splitter)
                .map((s) => s.trim())
                .filter((s) => s !== '')
            : text;
    });
    return { row: line, value };
  });
}

function rowsFromJson(text: string): RawRow[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch (err) {
    throw new InputError(`the file is not valid JSON: ${(err as Error).message}`, [
      { path: [], message: 'not valid JSON' },
    ]);
  }
  const list = Array.isArray(doc)
    ? doc
    : doc && typeof doc === 'object' && Array.isArray((doc as { assets?: unknown }).assets)
      ? (doc as { assets: unknown[] }).assets
      : undefined;
  if (!list)
    throw new InputError('a JSON asset file is an array of assets or an object {"assets": [...]}', [
      { path: [], message: 'expected an array of assets' },
    ]);
  return list.map((value, i) => ({ row: i + 1, value }));
}

/** Validates the whole file, then upserts every asset in one transaction: a bad row means nothing is written. */
export async function importAssetFile(
  db: Db,
  text: string,
  format: AssetFileFormat,
  actor: string,
): Promise<AssetImportResult> {
  const assets = parseAssetFile(text, format);
  return db.transaction(async (trx) => {
    const rows = await upsertAssetRows(trx, assets);
    const created = rows.filter((r) => r.inserted).length;
    const result = { imported: rows.length, created, updated: rows.length - created };
    await appendAudit(trx, {
      actor,
      action: 'assets.imported',
      subjectType: 'asset',
      subjectId: '*',
      data: { format, ...result },
    });
    return result;
  });
}
