/**
 * A deliberately small PowerShell: enough of the language for the scripts connectors send, and a
 * PowerShell-style error (in CLIXML, as `powershell.exe -EncodedCommand` writes it over a remote
 * shell) for everything else. Supported: statements separated by newlines or `;`, `#` comments,
 * `$var = <pipeline or value>`, pipelines of cmdlets with named parameters, single-quoted
 * literals (with `''` and the typographic quotes PowerShell also honours), numbers, barewords,
 * `$variables`, comma lists and `@(…)` arrays; the generic cmdlets Select-Object
 * (-Property/-ExpandProperty), Where-Object (simplified syntax: -Property -EQ|-Contains -Value),
 * ForEach-Object -MemberName [-ArgumentList] and ConvertTo-Json [-Compress] [-Depth]. Product
 * cmdlets (UpdateServices, …) are plugged in by the caller.
 * Language reference: https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_quoting_rules
 * https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/where-object
 * https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/foreach-object
 */
import type { CommandOutput } from './winrm.ts';

export const methodsKey = Symbol('methods');

export type PsValue = string | number | boolean | null | PsValue[] | PsObject;
export interface PsObject {
  [property: string]: PsValue;
  [methodsKey]?: Record<string, (...args: PsValue[]) => PsValue>;
}

export function psObject(
  props: Record<string, PsValue>,
  methods: Record<string, (...args: PsValue[]) => PsValue> = {},
): PsObject {
  const obj: PsObject = { ...props };
  Object.defineProperty(obj, methodsKey, { value: methods, enumerable: false });
  return obj;
}

/** A terminating error as PowerShell reports it: message, category and fully qualified id. */
export class PsError extends Error {
  constructor(
    message: string,
    readonly category: string,
    readonly errorId: string,
  ) {
    super(message);
  }
}

export type Params = Map<string, PsValue>;

export interface Cmdlet {
  /** Parameter names the cmdlet accepts (matched case-insensitively). */
  parameters: string[];
  run(input: PsValue[], params: Params, host: PowerShellHost): PsValue[];
}

export interface CmdletCall {
  name: string;
  params: Record<string, PsValue>;
}

export class PowerShellHost {
  readonly calls: CmdletCall[] = [];
  private readonly cmdlets = new Map<string, { name: string; cmdlet: Cmdlet }>();

  constructor(cmdlets: Record<string, Cmdlet>) {
    for (const [name, cmdlet] of Object.entries({ ...genericCmdlets, ...cmdlets }))
      this.cmdlets.set(name.toLowerCase(), { name, cmdlet });
  }

  /** Runs a script as `powershell.exe -EncodedCommand` would, returning its streams and exit code. */
  run(script: string): CommandOutput {
    const vars = new Map<string, PsValue>([
      ['null', null],
      ['true', true],
      ['false', false],
    ]);
    const out: string[] = [];
    try {
      for (const statement of parse(tokenize(script))) {
        const values = this.execute(statement.pipeline, vars);
        if (statement.assignTo)
          vars.set(
            statement.assignTo.toLowerCase(),
            values.length === 0 ? null : values.length === 1 ? values[0]! : values,
          );
        else out.push(...values.map(formatForHost));
      }
    } catch (err) {
      if (!(err instanceof PsError)) throw err;
      return { stdout: out.map((l) => `${l}\r\n`).join(''), stderr: clixmlError(err), exitCode: 1 };
    }
    return { stdout: out.map((l) => `${l}\r\n`).join(''), stderr: '', exitCode: 0 };
  }

  private execute(pipeline: PipelineElement[], vars: Map<string, PsValue>): PsValue[] {
    let stream: PsValue[] = [];
    for (const element of pipeline) {
      if (element.kind === 'value') {
        stream = enumerate(evaluate(element.value, vars));
        continue;
      }
      const found = this.cmdlets.get(element.name.toLowerCase());
      if (!found) throw commandNotFound(element.name);
      const params: Params = new Map();
      for (const p of element.params) {
        const declared = found.cmdlet.parameters.find((d) => d.toLowerCase() === p.name.toLowerCase());
        if (!declared) {
          throw new PsError(
            `${found.name} : A parameter cannot be found that matches parameter name '${p.name}'.`,
            `InvalidArgument: (:) [${found.name}], ParameterBindingException`,
            `NamedParameterNotFound,${found.name}`,
          );
        }
        params.set(declared, p.value === undefined ? true : evaluate(p.value, vars));
      }
      this.calls.push({ name: found.name, params: Object.fromEntries(params) });
      stream = found.cmdlet.run(stream, params, this);
    }
    return stream;
  }
}

// ---- generic cmdlets -------------------------------------------------------------------------

const genericCmdlets: Record<string, Cmdlet> = {
  'Select-Object': {
    parameters: ['Property', 'ExpandProperty', 'First'],
    run(input, params) {
      const first = params.get('First');
      const items = typeof first === 'number' ? input.slice(0, first) : input;
      const expand = params.get('ExpandProperty');
      if (typeof expand === 'string') return items.flatMap((i) => enumerate(property(i, expand)));
      const names = params.has('Property') ? enumerate(params.get('Property')!).map(String) : undefined;
      if (!names) return items;
      return items.map((i) => psObject(Object.fromEntries(names.map((n) => [n, property(i, n)]))));
    },
  },
  'Where-Object': {
    parameters: ['Property', 'Value', 'EQ', 'Contains'],
    run(input, params) {
      const name = String(params.get('Property') ?? '');
      const wanted = String(params.get('Value') ?? '').toLowerCase();
      if (params.get('Contains') === true)
        return input.filter((i) => enumerate(property(i, name)).some((v) => String(v).toLowerCase() === wanted));
      if (params.get('EQ') === true)
        return input.filter((i) => String(property(i, name) ?? '').toLowerCase() === wanted);
      throw new PsError(
        'Where-Object : The specified operator is not supported by this host.',
        'InvalidArgument: (:) [Where-Object], PSArgumentException',
        'OperatorNotSupported,Where-Object',
      );
    },
  },
  'ForEach-Object': {
    parameters: ['MemberName', 'ArgumentList'],
    run(input, params) {
      const member = String(params.get('MemberName') ?? '');
      const args = params.has('ArgumentList') ? enumerate(params.get('ArgumentList')!) : [];
      return input.flatMap((item) => {
        const method =
          item && typeof item === 'object' && !Array.isArray(item)
            ? findMember(item[methodsKey] ?? {}, member)
            : undefined;
        if (method) return enumerate(method(...args));
        return enumerate(property(item, member));
      });
    },
  },
  'ConvertTo-Json': {
    parameters: ['Compress', 'Depth'],
    run(input, params) {
      if (input.length === 0) return [];
      const depth = typeof params.get('Depth') === 'number' ? (params.get('Depth') as number) : 2;
      const value = input.length === 1 ? input[0]! : input;
      return [JSON.stringify(toJson(value, depth), null, params.get('Compress') === true ? undefined : 4)];
    },
  },
};

/** PowerShell 5.1's ConvertTo-Json: objects deeper than -Depth become their type name string. */
function toJson(value: PsValue, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth < 0) return Array.isArray(value) ? value.map(String).join(' ') : '@{…}';
  if (Array.isArray(value)) return value.map((v) => toJson(v, depth - 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v, depth - 1)]));
}

function property(item: PsValue, name: string): PsValue {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return null;
  const key = Object.keys(item).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : item[key]!;
}

function findMember<T>(members: Record<string, T>, name: string): T | undefined {
  const key = Object.keys(members).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : members[key];
}

function enumerate(value: PsValue): PsValue[] {
  if (value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function formatForHost(value: PsValue): string {
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.map(formatForHost).join('\r\n');
  return Object.entries(value)
    .map(([k, v]) => `${k} : ${formatForHost(v)}`)
    .join('\r\n');
}

function clixmlError(err: PsError): string {
  const lines = [
    err.message,
    '    + CategoryInfo          : ' + err.category,
    '    + FullyQualifiedErrorId : ' + err.errorId,
    '',
  ];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const records = lines.map((l) => `<S S="Error">${esc(l)}_x000D__x000A_</S>`).join('');
  return `#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">${records}</Objs>`;
}

// ---- parser ----------------------------------------------------------------------------------

type Token =
  | { t: 'end' }
  | { t: 'pipe' }
  | { t: 'assign' }
  | { t: 'comma' }
  | { t: 'arrayOpen' }
  | { t: 'close' }
  | { t: 'var'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'param'; v: string }
  | { t: 'word'; v: string };

type Expr = { kind: 'literal'; value: PsValue } | { kind: 'var'; name: string } | { kind: 'list'; items: Expr[] };
type PipelineElement =
  | { kind: 'value'; value: Expr }
  | { kind: 'command'; name: string; params: { name: string; value?: Expr | undefined }[] };
interface Statement {
  assignTo?: string;
  pipeline: PipelineElement[];
}

const singleQuotes = new Set(["'", '\u2018', '\u2019', '\u201A', '\u201B']);

function commandNotFound(name: string): PsError {
  return new PsError(
    `${name} : The term '${name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.`,
    `ObjectNotFound: (${name}:String) [], CommandNotFoundException`,
    'CommandNotFoundException',
  );
}

function parseError(message: string): PsError {
  return new PsError(
    `At line:1 char:1\r\n${message}`,
    'ParserError: (:) [], ParentContainsErrorRecordException',
    'UnexpectedToken',
  );
}

function tokenize(script: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < script.length) {
    const ch = script[i]!;
    if (ch === '\r' || ch === '\n' || ch === ';') {
      tokens.push({ t: 'end' });
      i++;
    } else if (ch === ' ' || ch === '\t') {
      i++;
    } else if (ch === '#') {
      while (i < script.length && script[i] !== '\n') i++;
    } else if (ch === '|') {
      tokens.push({ t: 'pipe' });
      i++;
    } else if (ch === '=') {
      tokens.push({ t: 'assign' });
      i++;
    } else if (ch === ',') {
      tokens.push({ t: 'comma' });
      i++;
    } else if (ch === '@' && script[i + 1] === '(') {
      tokens.push({ t: 'arrayOpen' });
      i += 2;
    } else if (ch === ')') {
      tokens.push({ t: 'close' });
      i++;
    } else if (singleQuotes.has(ch)) {
      let value = '';
      i++;
      for (;;) {
        if (i >= script.length) throw parseError("The string is missing the terminator: '.");
        const c = script[i]!;
        if (singleQuotes.has(c)) {
          if (singleQuotes.has(script[i + 1] ?? '')) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += c;
        i++;
      }
      tokens.push({ t: 'str', v: value });
    } else if (ch === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(script.slice(i));
      if (!m) throw parseError(`Unexpected token '${ch}' in expression or statement.`);
      tokens.push({ t: 'var', v: m[1]! });
      i += m[0].length;
    } else if (ch === '-' && /[A-Za-z]/.test(script[i + 1] ?? '') && (i === 0 || /\s/.test(script[i - 1]!))) {
      const m = /^-([A-Za-z][A-Za-z0-9]*)/.exec(script.slice(i))!;
      tokens.push({ t: 'param', v: m[1]! });
      i += m[0].length;
    } else if (/[0-9]/.test(ch)) {
      const m = /^[0-9]+/.exec(script.slice(i))!;
      tokens.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z0-9_.\-\\:]+/.exec(script.slice(i))!;
      tokens.push({ t: 'word', v: m[0] });
      i += m[0].length;
    } else {
      throw parseError(
        `Unexpected token '${ch}' in expression or statement. This PowerShell host supports a subset of the language.`,
      );
    }
  }
  tokens.push({ t: 'end' });
  return tokens;
}

function parse(tokens: Token[]): Statement[] {
  const statements: Statement[] = [];
  let pos = 0;
  const peek = () => tokens[pos]!;
  const startsValue = (tok: Token) =>
    tok.t === 'str' || tok.t === 'num' || tok.t === 'var' || tok.t === 'arrayOpen' || tok.t === 'word';

  const primary = (): Expr => {
    const tok = tokens[pos++]!;
    if (tok.t === 'str' || tok.t === 'num' || tok.t === 'word') return { kind: 'literal', value: tok.v };
    if (tok.t === 'var') return { kind: 'var', name: tok.v };
    if (tok.t === 'arrayOpen') {
      const items: Expr[] = [];
      while (peek().t !== 'close') {
        if (peek().t === 'end') throw parseError("Missing closing ')' in subexpression.");
        items.push(primary());
        if (peek().t === 'comma') pos++;
      }
      pos++;
      return { kind: 'list', items };
    }
    throw parseError('Missing expression after a parameter name or operator.');
  };
  const value = (): Expr => {
    const first = primary();
    if (peek().t !== 'comma') return first;
    const items = [first];
    while (peek().t === 'comma') {
      pos++;
      items.push(primary());
    }
    return { kind: 'list', items };
  };

  while (pos < tokens.length) {
    if (peek().t === 'end') {
      pos++;
      continue;
    }
    const statement: Statement = { pipeline: [] };
    const tok = peek();
    if (tok.t === 'var' && tokens[pos + 1]?.t === 'assign') {
      statement.assignTo = tok.v;
      pos += 2;
    }
    for (;;) {
      const head = peek();
      if (head.t === 'word' && /^[A-Za-z]+-[A-Za-z]+$/.test(head.v)) {
        pos++;
        const params: { name: string; value?: Expr | undefined }[] = [];
        while (peek().t === 'param') {
          const name = (tokens[pos++] as { v: string }).v;
          params.push({ name, value: startsValue(peek()) ? value() : undefined });
        }
        if (startsValue(peek()))
          throw parseError('Positional parameters are not supported by this PowerShell host; name every parameter.');
        statement.pipeline.push({ kind: 'command', name: head.v, params });
      } else if (head.t === 'word') {
        throw commandNotFound(head.v);
      } else if (startsValue(head) && statement.pipeline.length === 0) {
        statement.pipeline.push({ kind: 'value', value: value() });
      } else {
        throw parseError('An empty pipe element is not allowed.');
      }
      if (peek().t !== 'pipe') break;
      pos++;
    }
    if (peek().t !== 'end') throw parseError('Unexpected token in expression or statement.');
    statements.push(statement);
  }
  return statements;
}

function evaluate(expr: Expr, vars: Map<string, PsValue>): PsValue {
  if (expr.kind === 'literal') return expr.value;
  if (expr.kind === 'var') return vars.get(expr.name.toLowerCase()) ?? null;
  return expr.items.map((i) => evaluate(i, vars));
}
