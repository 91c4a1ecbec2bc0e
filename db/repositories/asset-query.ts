import type { Knex } from 'knex';
import { InputError } from '../../kernel/errors.ts';

/**
 * The inventory query language behind dynamic groups and `assets list --query`:
 *
 *   expr       := term ("or" term)*
 *   term       := factor ("and" factor)*
 *   factor     := "not" factor | "(" expr ")" | field op value
 *   op         := = != < <= > >= ~ !~        (~ is a glob match: * any run, ? one character)
 *   value      := word | "quoted string"
 *
 * e.g. `tier<=2 and exposure=internet`, `platform=windows or tag=pci`, `hostname~web-*`.
 * Text comparisons ignore case. Queries become knex builder calls with every value bound as a
 * parameter; the only SQL text is the fixed templates below, never anything the user typed.
 */

type FieldKind = 'text' | 'number' | 'list';
interface FieldDef {
  column: string;
  kind: FieldKind;
  /** Allowed values for `=`/`!=`, so that a typo like `exposure=internt` is an error, not an empty group. */
  values?: readonly string[];
}

const fieldDefs: Record<string, FieldDef> = {
  hostname: { column: 'hostname', kind: 'text' },
  fqdn: { column: 'fqdn', kind: 'text' },
  ip: { column: 'ips', kind: 'list' },
  platform: { column: 'platform', kind: 'text' },
  os_version: { column: 'os_version', kind: 'text' },
  owner: { column: 'owner', kind: 'text' },
  business_service: { column: 'business_service', kind: 'text' },
  tier: { column: 'criticality', kind: 'number' },
  criticality: { column: 'criticality', kind: 'number' },
  exposure: { column: 'exposure', kind: 'text', values: ['internet', 'internal', 'isolated'] },
  patch_group: { column: 'patch_group', kind: 'text' },
  tag: { column: 'tags', kind: 'list' },
  source: { column: 'source', kind: 'text' },
};
/** Accepts `patchGroup`, `patch-group` and `PATCH_GROUP` alike. */
const fieldByKey = new Map(Object.keys(fieldDefs).map((name) => [fieldKey(name), name]));
function fieldKey(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

const operators = ['<=', '>=', '!=', '!~', '=', '<', '>', '~'] as const;
type Operator = (typeof operators)[number];
const opsByKind: Record<FieldKind, readonly Operator[]> = {
  text: ['=', '!=', '~', '!~'],
  list: ['=', '!=', '~', '!~'],
  number: ['=', '!=', '<', '<=', '>', '>='],
};

export type AssetQuery =
  | { kind: 'and' | 'or'; items: AssetQuery[] }
  | { kind: 'not'; item: AssetQuery }
  | { kind: 'compare'; field: string; op: Operator; value: string };

interface Token {
  kind: 'word' | 'string' | 'op' | '(' | ')' | 'end';
  text: string;
  /** 1-based column, for error messages. */
  column: number;
}

const MAX_QUERY_LENGTH = 2000;
/** Bounds recursion so that `((((…` cannot exhaust the stack. */
const MAX_DEPTH = 32;
const wordChar = /[A-Za-z0-9_.*?:/@+-]/;

function queryError(column: number, message: string): InputError {
  return new InputError(`invalid query at column ${column}: ${message}`, [
    { path: ['query'], message: `column ${column}: ${message}` },
  ]);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c, text: c, column: i + 1 });
      i += 1;
    } else if (c === '"') {
      let value = '';
      let j = i + 1;
      for (; j < text.length && text.charAt(j) !== '"'; j += 1) {
        // A backslash escapes the next character, so that a value may contain a quote.
        if (text.charAt(j) === '\\') j += 1;
        value += text.charAt(j);
      }
      if (j >= text.length) throw queryError(i + 1, 'unterminated quoted string');
      tokens.push({ kind: 'string', text: value, column: i + 1 });
      i = j + 1;
    } else {
      const op = operators.find((o) => text.startsWith(o, i));
      if (op) {
        tokens.push({ kind: 'op', text: op, column: i + 1 });
        i += op.length;
      } else if (wordChar.test(c)) {
        let j = i;
        while (j < text.length && wordChar.test(text.charAt(j))) j += 1;
        tokens.push({ kind: 'word', text: text.slice(i, j), column: i + 1 });
        i = j;
      } else {
        throw queryError(i + 1, `unexpected character "${c}"`);
      }
    }
  }
  tokens.push({ kind: 'end', text: 'end of query', column: text.length + 1 });
  return tokens;
}

/** Parses a query; anything wrong is an InputError naming the column where it went wrong. */
export function parseAssetQuery(text: string): AssetQuery {
  if (text.length > MAX_QUERY_LENGTH)
    throw queryError(MAX_QUERY_LENGTH + 1, `longer than ${MAX_QUERY_LENGTH} characters`);
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token => tokens[pos] ?? tokens[tokens.length - 1]!;
  const next = (): Token => {
    const t = peek();
    pos = Math.min(pos + 1, tokens.length - 1);
    return t;
  };
  const isKeyword = (t: Token, word: string) => t.kind === 'word' && t.text.toLowerCase() === word;
  const describe = (t: Token) => (t.kind === 'end' ? 'the end of the query' : `"${t.text}"`);

  const sequence = (kind: 'and' | 'or', parseItem: (depth: number) => AssetQuery, depth: number): AssetQuery => {
    const items = [parseItem(depth)];
    while (isKeyword(peek(), kind)) {
      next();
      items.push(parseItem(depth));
    }
    return items.length === 1 ? items[0]! : { kind, items };
  };
  const expr = (depth: number): AssetQuery => {
    if (depth > MAX_DEPTH) throw queryError(peek().column, `nested deeper than ${MAX_DEPTH} levels`);
    return sequence('or', (d) => sequence('and', factor, d), depth);
  };
  const factor = (depth: number): AssetQuery => {
    const t = next();
    if (isKeyword(t, 'not')) return { kind: 'not', item: factor(depth + 1) };
    if (t.kind === '(') {
      const inner = expr(depth + 1);
      const close = next();
      if (close.kind !== ')')
        throw queryError(close.column, `expected ")" to close the "(" at column ${t.column}, found ${describe(close)}`);
      return inner;
    }
    if (t.kind !== 'word') throw queryError(t.column, `expected a field name, found ${describe(t)}`);
    return comparison(t);
  };
  const comparison = (fieldToken: Token): AssetQuery => {
    const field = fieldByKey.get(fieldKey(fieldToken.text));
    if (!field)
      throw queryError(
        fieldToken.column,
        `unknown field "${fieldToken.text}"; known fields: ${Object.keys(fieldDefs).join(', ')}`,
      );
    const def = fieldDefs[field]!;
    const opToken = next();
    if (opToken.kind !== 'op')
      throw queryError(
        opToken.column,
        `expected an operator (${opsByKind[def.kind].join(' ')}) after "${fieldToken.text}", found ${describe(opToken)}`,
      );
    const op = opToken.text as Operator;
    if (!opsByKind[def.kind].includes(op))
      throw queryError(
        opToken.column,
        `operator ${op} does not apply to ${field}; use ${opsByKind[def.kind].join(' ')}`,
      );
    const valueToken = next();
    if (valueToken.kind !== 'word' && valueToken.kind !== 'string')
      throw queryError(valueToken.column, `expected a value after "${op}", found ${describe(valueToken)}`);
    const value = valueToken.text;
    if (def.kind === 'number' && !/^\d+$/.test(value))
      throw queryError(valueToken.column, `${field} compares with a whole number, not "${value}"`);
    if (def.values && (op === '=' || op === '!=') && !def.values.includes(value.toLowerCase())) {
      throw queryError(valueToken.column, `${field} is one of ${def.values.join(', ')}, not "${value}"`);
    }
    return { kind: 'compare', field, op, value };
  };

  const query = expr(0);
  const rest = peek();
  if (rest.kind !== 'end')
    throw queryError(rest.column, `expected "and", "or" or the end of the query, found ${describe(rest)}`);
  return query;
}

/** Adds the query's conditions to a builder over `assets`. */
export function applyAssetQuery(qb: Knex.QueryBuilder, query: AssetQuery): Knex.QueryBuilder {
  switch (query.kind) {
    case 'and':
      for (const item of query.items) qb.where((b) => void applyAssetQuery(b, item));
      return qb;
    case 'or':
      for (const item of query.items) qb.orWhere((b) => void applyAssetQuery(b, item));
      return qb;
    case 'not':
      return qb.whereNot((b) => void applyAssetQuery(b, query.item));
    case 'compare':
      return applyComparison(qb, query);
  }
}

function applyComparison(qb: Knex.QueryBuilder, c: Extract<AssetQuery, { kind: 'compare' }>): Knex.QueryBuilder {
  const def = fieldDefs[c.field]!;
  if (def.kind === 'number') {
    return qb.where(def.column, c.op === '!=' ? '<>' : c.op, Number.parseInt(c.value, 10));
  }
  const negated = c.op === '!=' || c.op === '!~';
  const glob = c.op === '~' || c.op === '!~';
  const pattern = glob ? likePattern(c.value.toLowerCase()) : c.value.toLowerCase();
  // Missing values compare as '' so that `platform!=windows` includes hosts with no platform.
  const sql =
    def.kind === 'text'
      ? glob
        ? `coalesce(lower(??), '') like ? escape '\\'`
        : `coalesce(lower(??), '') = ?`
      : glob
        ? `exists (select 1 from unnest(??) as v where lower(v) like ? escape '\\')`
        : `exists (select 1 from unnest(??) as v where lower(v) = ?)`;
  return negated
    ? qb.whereNot((b) => void b.whereRaw(sql, [def.column, pattern]))
    : qb.whereRaw(sql, [def.column, pattern]);
}

/** Glob to LIKE: `*` and `?` become `%` and `_`; LIKE's own wildcards in the value are escaped. */
function likePattern(glob: string): string {
  return glob
    .replace(/[\\%_]/g, (ch) => `\\${ch}`)
    .replace(/\*/g, '%')
    .replace(/\?/g, '_');
}
