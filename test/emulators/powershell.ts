/**
 * A deliberately small PowerShell: enough of the language for the scripts connectors send, and a
 * PowerShell-style error (in CLIXML, as `powershell.exe -EncodedCommand` writes it over a remote
 * shell) for everything else. Supported: statements separated by newlines or `;`, `#` comments,
 * `$var = <pipeline or value>` (`$null = …` discards), pipelines of cmdlets with named
 * parameters, an expression as a pipeline's first element, single-quoted literals (with `''` and
 * the typographic quotes PowerShell also honours), numbers, barewords, `$variables` and `$_`,
 * member access and method calls (`$server.GetComputerTargets()`, member enumeration over
 * arrays), `( … )` sub-pipelines, comma lists, `@(…)` arrays, `@{ k = v; … }` hashtables, script
 * blocks `{ … }` and the `[datetime]` cast; the generic cmdlets Select-Object (-Property with
 * names and calculated properties `@{ Name = …; Expression = { … } }`, -ExpandProperty, -First),
 * Where-Object (simplified syntax: -Property -EQ|-Contains -Value), ForEach-Object (-MemberName
 * [-ArgumentList] or -Process { … }) and ConvertTo-Json [-Compress] [-Depth]. Product cmdlets and
 * objects (UpdateServices, …) are plugged in by the caller.
 * Language reference: https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_quoting_rules
 * https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_member-access_enumeration
 * https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.utility/select-object (calculated properties)
 * https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/where-object
 * https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/foreach-object
 *
 * ConvertTo-Json writes what the PowerShell version writes. Windows PowerShell 5.1 (what
 * `powershell.exe` is on every Windows Server) and PowerShell 7 differ for .NET objects such as
 * System.Net.IPAddress: see `ipAddressObject` and the captures in test/fixtures/wsus/.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { CommandOutput } from './winrm.ts';

export const methodsKey = Symbol('methods');
const jsonKey = Symbol('json');
const typeKey = Symbol('type');
const blockKey = Symbol('scriptblock');
const hashKey = Symbol('hashtable');
const dateKey = Symbol('datetime');

export type PowerShellVersion = '5.1' | '7';
export type Method = (...args: PsValue[]) => PsValue;
/** How ConvertTo-Json writes an object whose JSON is not its visible properties; `ets`: whether its extended (ETS) members are written too. */
type JsonShape = (version: PowerShellVersion, ets: boolean) => unknown;

export type PsValue = string | number | boolean | null | PsValue[] | PsObject;
export interface PsObject {
  [property: string]: PsValue;
  [methodsKey]?: Record<string, Method>;
  [jsonKey]?: JsonShape;
  [typeKey]?: string;
  [blockKey]?: (input: PsValue) => PsValue[];
  [hashKey]?: true;
  [dateKey]?: Date;
}

export function psObject(
  props: Record<string, PsValue>,
  methods: Record<string, Method> = {},
  opts: { typeName?: string; json?: JsonShape } = {},
): PsObject {
  const obj: PsObject = { ...props };
  Object.defineProperty(obj, methodsKey, { value: methods, enumerable: false });
  Object.defineProperty(obj, typeKey, { value: opts.typeName ?? 'System.Management.Automation.PSCustomObject' });
  if (opts.json) Object.defineProperty(obj, jsonKey, { value: opts.json, enumerable: false });
  return obj;
}

/**
 * A System.Net.IPAddress. Its .NET properties are Address (the IPv4 address as a little-endian
 * 32-bit number; reading it on an IPv6 address throws, which ConvertTo-Json writes as null),
 * AddressFamily (2 InterNetwork, 23 InterNetworkV6), ScopeId (throws on IPv4, so null) and the
 * IsIPv6… flags; PowerShell's type data adds the ETS property IPAddressToString. The JSON shapes
 * are the captured ones: Windows PowerShell 5.1 writes Address first and no IsIPv6UniqueLocal,
 * with IPAddressToString last even on a nested value (gowindows_Get-DhcpServerv4Scope capture);
 * PowerShell 7 writes .NET 5+'s order with IsIPv6UniqueLocal and Address last, IPAddressToString
 * only for a piped (PSObject-wrapped) value, and here a nested value is written bare as
 * `-InputObject` shows it (pwsh7_ConvertTo-Json_IPAddress_* captures) — the hardest case for a reader.
 * https://learn.microsoft.com/en-us/dotnet/api/system.net.ipaddress
 */
export function ipAddressObject(text: string): PsObject {
  const v4 = isIPv4(text);
  if (!v4 && !isIPv6(text)) throw new Error(`not an IP address: ${text}`);
  const b = v4 ? text.split('.').map(Number) : ipv6Bytes(text);
  const v6 = (test: () => boolean) => !v4 && test();
  const flags = {
    IsIPv6Multicast: v6(() => b[0] === 0xff),
    IsIPv6LinkLocal: v6(() => b[0] === 0xfe && (b[1]! & 0xc0) === 0x80),
    IsIPv6SiteLocal: v6(() => b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0),
    IsIPv6Teredo: v6(() => b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0),
  };
  const uniqueLocal = v6(() => (b[0]! & 0xfe) === 0xfc);
  const mapped = v6(() => b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff);
  const address = v4 ? b[0]! + b[1]! * 2 ** 8 + b[2]! * 2 ** 16 + b[3]! * 2 ** 24 : null;
  const family = v4 ? 2 : 23;
  const scopeId = v4 ? null : 0;
  return psObject(
    {
      Address: address,
      AddressFamily: family,
      ScopeId: scopeId,
      ...flags,
      IsIPv6UniqueLocal: uniqueLocal,
      IsIPv4MappedToIPv6: mapped,
      IPAddressToString: text,
    },
    { ToString: () => text },
    {
      typeName: 'System.Net.IPAddress',
      json: (version, ets) => {
        const etsMembers = ets ? { IPAddressToString: text } : {};
        return version === '5.1'
          ? {
              Address: address,
              AddressFamily: family,
              ScopeId: scopeId,
              ...flags,
              IsIPv4MappedToIPv6: mapped,
              ...etsMembers,
            }
          : {
              AddressFamily: family,
              ScopeId: scopeId,
              ...flags,
              IsIPv6UniqueLocal: uniqueLocal,
              IsIPv4MappedToIPv6: mapped,
              Address: address,
              ...etsMembers,
            };
      },
    },
  );
}

function ipv6Bytes(text: string): number[] {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(tail);
  const words =
    tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/** The instant a `[datetime]` value holds, for product methods that take a DateTime. */
export function dateOf(value: PsValue): Date | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value[dateKey] : undefined;
}

function dateTime(d: Date): PsObject {
  const obj = psObject(
    {},
    { ToUniversalTime: () => dateTime(d), ToString: () => d.toISOString() },
    { typeName: 'System.DateTime' },
  );
  Object.defineProperty(obj, dateKey, { value: d, enumerable: false });
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

/** What a .NET method's exception looks like once PowerShell has wrapped it. */
export function methodException(method: string, argCount: number, message: string, exceptionType: string): PsError {
  return new PsError(
    `Exception calling "${method}" with "${argCount}" argument(s): "${message}"`,
    'NotSpecified: (:) [], MethodInvocationException',
    exceptionType,
  );
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

  constructor(
    cmdlets: Record<string, Cmdlet>,
    private readonly version: PowerShellVersion = '5.1',
  ) {
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
    const out: PsValue[] = [];
    const stdout = () => out.map((v) => `${formatForHost(v)}\r\n`).join('');
    try {
      this.runStatements(parse(tokenize(script)), vars, out);
    } catch (err) {
      if (!(err instanceof PsError)) throw err;
      return { stdout: stdout(), stderr: clixmlError(err), exitCode: 1 };
    }
    return { stdout: stdout(), stderr: '', exitCode: 0 };
  }

  private runStatements(statements: Statement[], vars: Map<string, PsValue>, out: PsValue[]): void {
    for (const statement of statements) {
      const values = this.execute(statement.pipeline, vars);
      if (statement.assignTo === undefined) out.push(...values);
      else if (statement.assignTo.toLowerCase() !== 'null')
        vars.set(
          statement.assignTo.toLowerCase(),
          values.length === 0 ? null : values.length === 1 ? values[0]! : values,
        );
    }
  }

  private execute(pipeline: PipelineElement[], vars: Map<string, PsValue>): PsValue[] {
    let stream: PsValue[] = [];
    for (const element of pipeline) {
      if (element.kind === 'value') {
        stream = enumerate(this.evaluate(element.value, vars));
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
        params.set(declared, p.value === undefined ? true : this.evaluate(p.value, vars));
      }
      this.calls.push({ name: found.name, params: Object.fromEntries(params) });
      stream = found.cmdlet.run(stream, params, this);
    }
    return stream;
  }

  private evaluate(expr: Expr, vars: Map<string, PsValue>): PsValue {
    switch (expr.kind) {
      case 'literal':
        return expr.value;
      case 'var':
        return vars.get(expr.name.toLowerCase()) ?? null;
      case 'list':
        return expr.items.map((i) => this.evaluate(i, vars));
      case 'paren': {
        const values = this.execute(expr.pipeline, vars);
        return values.length === 0 ? null : values.length === 1 ? values[0]! : values;
      }
      case 'hash': {
        const table = psObject(
          Object.fromEntries(expr.entries.map(([k, v]) => [k, this.evaluate(v, vars)])),
          {},
          { typeName: 'System.Collections.Hashtable' },
        );
        Object.defineProperty(table, hashKey, { value: true, enumerable: false });
        return table;
      }
      case 'block': {
        const block = psObject({}, {}, { typeName: 'System.Management.Automation.ScriptBlock' });
        Object.defineProperty(block, blockKey, {
          enumerable: false,
          value: (input: PsValue) => {
            const scope = new Map(vars);
            scope.set('_', input);
            const out: PsValue[] = [];
            this.runStatements(expr.body, scope, out);
            return out;
          },
        });
        return block;
      }
      case 'cast':
        return cast(expr.type, this.evaluate(expr.value, vars));
      case 'member':
        return memberOf(this.evaluate(expr.target, vars), expr.name);
      case 'call':
        return invoke(
          this.evaluate(expr.target, vars),
          expr.name,
          expr.args.map((a) => this.evaluate(a, vars)),
        );
    }
  }

  /** ConvertTo-Json as this PowerShell version writes it. */
  toJson(value: PsValue, depth: number, topLevel = true): unknown {
    if (value === null || typeof value !== 'object') return value;
    const shape = Array.isArray(value) ? undefined : value[jsonKey];
    // Piped objects are PSObject-wrapped, so their ETS members are written; nested ones only by 5.1.
    if (shape) return shape(this.version, topLevel || this.version === '5.1');
    // Windows PowerShell 5.1: objects deeper than -Depth become their type name string.
    if (depth < 0) return Array.isArray(value) ? value.map(String).join(' ') : typeNameOf(value);
    if (Array.isArray(value)) return value.map((v) => this.toJson(v, depth - 1, false));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.toJson(v, depth - 1, false)]));
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
      if (!params.has('Property')) return items;
      const selectors = enumerate(params.get('Property')!).map(selector);
      return items.map((i) => psObject(Object.fromEntries(selectors.map((s) => [s.name, s.value(i)]))));
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
    parameters: ['MemberName', 'ArgumentList', 'Process'],
    run(input, params) {
      const process = params.get('Process');
      if (process !== undefined) {
        const block = scriptBlockOf(process);
        if (!block)
          throw new PsError(
            "ForEach-Object : Cannot bind parameter 'Process'. The value is not a script block.",
            'InvalidArgument: (:) [ForEach-Object], ParameterBindingException',
            'CannotConvertArgument,ForEach-Object',
          );
        return input.flatMap((item) => block(item));
      }
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
    run(input, params, host) {
      if (input.length === 0) return [];
      const depth = typeof params.get('Depth') === 'number' ? (params.get('Depth') as number) : 2;
      const value = input.length === 1 ? input[0]! : input;
      return [JSON.stringify(host.toJson(value, depth), null, params.get('Compress') === true ? undefined : 4)];
    },
  },
};

/** A Select-Object -Property entry: a property name, or a calculated property (Name/Label and Expression). */
function selector(entry: PsValue): { name: string; value: (item: PsValue) => PsValue } {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || !entry[hashKey])
    return { name: String(entry), value: (item) => property(item, String(entry)) };
  const key = (...names: string[]) => names.map((n) => property(entry, n)).find((v) => v !== null) ?? null;
  const name = key('Name', 'N', 'Label', 'L');
  const expression = key('Expression', 'E');
  if (typeof name !== 'string' || expression === null)
    throw new PsError(
      'Select-Object : The hashtable of a calculated property needs a Name and an Expression key.',
      'InvalidArgument: (:) [Select-Object], NotSupportedException',
      'DictionaryKeyMissing,Microsoft.PowerShell.Commands.SelectObjectCommand',
    );
  const block = scriptBlockOf(expression);
  return {
    name,
    value: (item) => {
      if (!block) return property(item, String(expression));
      const values = block(item);
      return values.length === 0 ? null : values.length === 1 ? values[0]! : values;
    },
  };
}

function scriptBlockOf(value: PsValue): ((input: PsValue) => PsValue[]) | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value[blockKey] : undefined;
}

function typeNameOf(value: PsValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'System.Object[]';
  if (typeof value === 'object') return value[typeKey] ?? 'System.Management.Automation.PSCustomObject';
  return typeof value === 'string' ? 'System.String' : typeof value === 'number' ? 'System.Int32' : 'System.Boolean';
}

function property(item: PsValue, name: string): PsValue {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return null;
  const key = Object.keys(item).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : item[key]!;
}

/** `$x.Name`: the property, or each element's property for an array (member-access enumeration). */
function memberOf(target: PsValue, name: string): PsValue {
  if (Array.isArray(target)) return target.flatMap((t) => enumerate(memberOf(t, name)));
  return property(target, name);
}

function invoke(target: PsValue, name: string, args: PsValue[]): PsValue {
  if (target === null)
    throw new PsError(
      'You cannot call a method on a null-valued expression.',
      'InvalidOperation: (:) [], RuntimeException',
      'InvokeMethodOnNull',
    );
  const method =
    typeof target === 'object' && !Array.isArray(target) ? findMember(target[methodsKey] ?? {}, name) : undefined;
  if (method) return method(...args);
  if (name.toLowerCase() === 'tostring' && args.length === 0) return formatForHost(target);
  throw new PsError(
    `Method invocation failed because [${typeNameOf(target)}] does not contain a method named '${name}'.`,
    'InvalidOperation: (:) [], RuntimeException',
    'MethodNotFound',
  );
}

function cast(type: string, value: PsValue): PsValue {
  if (type.toLowerCase() !== 'datetime')
    throw new PsError(
      `Unable to find type [${type}]: this PowerShell host knows only [datetime].`,
      `InvalidOperation: (${type}:TypeName) [], RuntimeException`,
      'TypeNotFound',
    );
  const d = typeof value === 'string' ? new Date(value) : undefined;
  if (!d || Number.isNaN(d.getTime()))
    throw new PsError(
      `Cannot convert value "${String(value)}" to type "System.DateTime". Error: "String was not recognized as a valid DateTime."`,
      'InvalidArgument: (:) [], RuntimeException',
      'InvalidCastParseTargetInvocation',
    );
  return dateTime(d);
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
  const toString = findMember(value[methodsKey] ?? {}, 'ToString');
  if (toString) return String(toString());
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
  | { t: 'hashOpen' }
  | { t: 'parenOpen' }
  | { t: 'close' }
  | { t: 'blockOpen' }
  | { t: 'blockClose' }
  | { t: 'type'; v: string }
  | { t: 'member'; v: string; call: boolean }
  | { t: 'var'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'param'; v: string }
  | { t: 'word'; v: string };

type Expr =
  | { kind: 'literal'; value: PsValue }
  | { kind: 'var'; name: string }
  | { kind: 'list'; items: Expr[] }
  | { kind: 'hash'; entries: [string, Expr][] }
  | { kind: 'block'; body: Statement[] }
  | { kind: 'paren'; pipeline: PipelineElement[] }
  | { kind: 'cast'; type: string; value: Expr }
  | { kind: 'member'; target: Expr; name: string }
  | { kind: 'call'; target: Expr; name: string; args: Expr[] };
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
  /** `.Name` is member access only straight after a value, with no space between. */
  const followsValue = () => {
    const prev = tokens.at(-1);
    return !!prev && ['var', 'close', 'member', 'str'].includes(prev.t) && !/\s/.test(script[i - 1] ?? ' ');
  };
  while (i < script.length) {
    const ch = script[i]!;
    const rest = script.slice(i);
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
    } else if (rest.startsWith('@(')) {
      tokens.push({ t: 'arrayOpen' });
      i += 2;
    } else if (rest.startsWith('@{')) {
      tokens.push({ t: 'hashOpen' });
      i += 2;
    } else if (ch === '(') {
      tokens.push({ t: 'parenOpen' });
      i++;
    } else if (ch === ')') {
      tokens.push({ t: 'close' });
      i++;
    } else if (ch === '{') {
      tokens.push({ t: 'blockOpen' });
      i++;
    } else if (ch === '}') {
      tokens.push({ t: 'blockClose' });
      i++;
    } else if (ch === '[' && /^\[[A-Za-z][A-Za-z0-9.]*\]/.test(rest)) {
      const m = /^\[([A-Za-z][A-Za-z0-9.]*)\]/.exec(rest)!;
      tokens.push({ t: 'type', v: m[1]! });
      i += m[0].length;
    } else if (ch === '.' && /[A-Za-z_]/.test(script[i + 1] ?? '') && followsValue()) {
      const m = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(rest)!;
      i += m[0].length;
      tokens.push({ t: 'member', v: m[1]!, call: script[i] === '(' });
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
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
      if (!m) throw parseError(`Unexpected token '${ch}' in expression or statement.`);
      tokens.push({ t: 'var', v: m[1]! });
      i += m[0].length;
    } else if (ch === '-' && /[A-Za-z]/.test(script[i + 1] ?? '') && (i === 0 || /\s/.test(script[i - 1]!))) {
      const m = /^-([A-Za-z][A-Za-z0-9]*)/.exec(rest)!;
      tokens.push({ t: 'param', v: m[1]! });
      i += m[0].length;
    } else if (/[0-9]/.test(ch)) {
      const m = /^[0-9]+/.exec(rest)!;
      tokens.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z0-9_.\-\\:]+/.exec(rest)!;
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
  let pos = 0;
  const peek = () => tokens[pos] ?? { t: 'end' as const };
  const atEof = () => pos >= tokens.length;
  const expect = (t: Token['t'], message: string) => {
    if (peek().t !== t) throw parseError(message);
    pos++;
  };
  const startsValue = (tok: Token) =>
    ['str', 'num', 'var', 'word', 'arrayOpen', 'hashOpen', 'parenOpen', 'blockOpen', 'type'].includes(tok.t);

  const primary = (): Expr => {
    const tok = tokens[pos++]!;
    switch (tok.t) {
      case 'str':
      case 'num':
      case 'word':
        return { kind: 'literal', value: tok.v };
      case 'var':
        return { kind: 'var', name: tok.v };
      case 'type':
        return { kind: 'cast', type: tok.v, value: postfix() };
      case 'arrayOpen': {
        const items: Expr[] = [];
        while (peek().t !== 'close') {
          if (atEof()) throw parseError("Missing closing ')' in subexpression.");
          if (peek().t === 'comma' || peek().t === 'end') pos++;
          else items.push(postfix());
        }
        pos++;
        return { kind: 'list', items };
      }
      case 'hashOpen': {
        const entries: [string, Expr][] = [];
        for (;;) {
          while (peek().t === 'end' && !atEof()) pos++;
          if (peek().t === 'blockClose') break;
          const key = tokens[pos++];
          if (!key || (key.t !== 'word' && key.t !== 'str'))
            throw parseError("Missing '=' operator after key in hash literal.");
          expect('assign', "Missing '=' operator after key in hash literal.");
          entries.push([key.v, expression()]);
        }
        pos++;
        return { kind: 'hash', entries };
      }
      case 'blockOpen': {
        const body = statements('blockClose');
        expect('blockClose', "Missing closing '}' in statement block or type definition.");
        return { kind: 'block', body };
      }
      case 'parenOpen': {
        const inner = statement('close');
        expect('close', "Missing closing ')' in expression.");
        return { kind: 'paren', pipeline: inner.pipeline };
      }
      default:
        throw parseError('Missing expression after a parameter name or operator.');
    }
  };
  const postfix = (): Expr => {
    let expr = primary();
    for (let tok = peek(); tok.t === 'member'; tok = peek()) {
      pos++;
      if (!tok.call) {
        expr = { kind: 'member', target: expr, name: tok.v };
        continue;
      }
      pos++; // the '(' right after the name
      const args: Expr[] = [];
      while (peek().t !== 'close') {
        if (atEof()) throw parseError("Missing ')' in method call.");
        if (peek().t === 'comma') pos++;
        else args.push(postfix());
      }
      pos++;
      expr = { kind: 'call', target: expr, name: tok.v, args };
    }
    return expr;
  };
  const expression = (): Expr => {
    const first = postfix();
    if (peek().t !== 'comma') return first;
    const items = [first];
    while (peek().t === 'comma') {
      pos++;
      items.push(postfix());
    }
    return { kind: 'list', items };
  };

  function statement(closer?: Token['t']): Statement {
    const result: Statement = { pipeline: [] };
    const tok = peek();
    if (tok.t === 'var' && tokens[pos + 1]?.t === 'assign') {
      result.assignTo = tok.v;
      pos += 2;
    }
    for (;;) {
      const head = peek();
      if (head.t === 'word' && /^[A-Za-z]+-[A-Za-z]+$/.test(head.v)) {
        pos++;
        const params: { name: string; value?: Expr | undefined }[] = [];
        while (peek().t === 'param') {
          const name = (tokens[pos++] as { v: string }).v;
          params.push({ name, value: startsValue(peek()) ? expression() : undefined });
        }
        if (startsValue(peek()))
          throw parseError('Positional parameters are not supported by this PowerShell host; name every parameter.');
        result.pipeline.push({ kind: 'command', name: head.v, params });
      } else if (head.t === 'word') {
        throw commandNotFound(head.v);
      } else if (startsValue(head) && result.pipeline.length === 0) {
        result.pipeline.push({ kind: 'value', value: expression() });
      } else {
        throw parseError('An empty pipe element is not allowed.');
      }
      if (peek().t !== 'pipe') break;
      pos++;
    }
    if (peek().t !== 'end' && peek().t !== closer) throw parseError('Unexpected token in expression or statement.');
    return result;
  }

  function statements(closer?: Token['t']): Statement[] {
    const out: Statement[] = [];
    for (;;) {
      while (peek().t === 'end' && !atEof()) pos++;
      if (atEof() || (closer && peek().t === closer)) return out;
      out.push(statement(closer));
    }
  }

  const script = statements();
  if (!atEof()) throw parseError('Unexpected token in expression or statement.');
  return script;
}
