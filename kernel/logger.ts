/**
 * Structured one-line JSON logs on stderr; level from PATCHFLOW_LOG_LEVEL. Every line is redacted
 * before it is written: fields named like credentials, the configured secrets' values wherever they
 * appear in a string, credentials in URLs, and authorization schemes, headers and key=value pairs.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** What stands in a log line for anything redacted, as in redacted connector configs. */
export const redactedMark = '***';

export function createLogger(base: Record<string, unknown> = {}, level: LogLevel = envLevel()): Logger {
  const write =
    (lvl: LogLevel) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (order[lvl] < order[level]) return;
      const line = { time: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
      process.stderr.write(`${JSON.stringify(redactForLog(line))}\n`);
    };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (fields) => createLogger({ ...base, ...fields }, level),
  };
}

function envLevel(): LogLevel {
  const v = process.env['PATCHFLOW_LOG_LEVEL'];
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' ? v : 'info';
}

/** Longest first, so that a secret containing another is replaced whole. */
let secretValues: string[] = [];

/**
 * Makes the process's configured secrets known to every logger: from then on each value is
 * replaced wherever it appears in a line, however it got there (an error message, a stack, a field).
 */
export function registerSecrets(values: Iterable<string | undefined>): void {
  const all = new Set(secretValues);
  for (const v of values) if (v) all.add(v);
  secretValues = [...all].sort((a, b) => b.length - a.length);
}

/** Field names that hold credentials, compared without case, `-` or `_` (`x-apikeys`, `client_secret`). */
const sensitiveKey = /password|passwd|secret|token|apikey|accesskey|authorization|cookie|privatekey/;

const namePattern = String.raw`[\w-]*(?:password|passwd|secret|token|api[-_]?keys?|access[-_]?key|private[-_]?key|client[-_]?secret)[\w-]*`;
/** `Cookie: a=1; b=2`, `"authorization":"Basic …"`: headers whose whole value is a credential. */
const credentialHeader = /\b((?:proxy-)?authorization|(?:set-)?cookie|x-apikeys)(["']?\s*[:=]\s*["']?)[^\r\n"']+/gi;
/** `password=…`, `"apiToken": "…"`, `accessKey=…; secretKey=…`, `?api_key=…&`. */
const credentialPair = new RegExp(String.raw`\b(${namePattern})(["']?\s*[:=]\s*["']?)[^\s"'&;,]+`, 'gi');
/** `Bearer eyJ…`, `Basic c3Zj…` wherever they stand. */
const authScheme = /\b(Bearer|Basic|Digest|Negotiate)\s+[A-Za-z0-9\-._~+/]+=*/gi;
/** `postgres://user:pass@host`: the password goes, the user and host stay. */
const urlCredentials = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*):[^\s/?#]*@/gi;

/** A string with every registered secret value and every recognisable credential replaced by the mark. */
export function redactString(text: string): string {
  let out = text;
  for (const v of secretValues) if (out.includes(v)) out = out.split(v).join(redactedMark);
  return out
    .replace(credentialHeader, `$1$2${redactedMark}`)
    .replace(credentialPair, `$1$2${redactedMark}`)
    .replace(authScheme, `$1 ${redactedMark}`)
    .replace(urlCredentials, `$1:${redactedMark}@`);
}

/**
 * A JSON-ready copy of a log line, redacted: sensitive field names at any depth lose their value,
 * every string is passed through redactString, and errors keep their name, message and stack
 * (JSON.stringify alone would write `{}` for them).
 */
export function redactForLog(value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactString(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    return redactObject(value, seen);
  } finally {
    // Only the path from the root counts: an object referred to twice is not a cycle.
    seen.delete(value);
  }
}

function redactObject(value: object, seen: WeakSet<object>): unknown {
  if (value instanceof Error) {
    const { name, message, stack } = value;
    const cause = value.cause === undefined ? {} : { cause: redactForLog(value.cause, seen) };
    return { name: redactString(name), message: redactString(message), stack: redactString(stack ?? ''), ...cause };
  }
  const json = (value as { toJSON?: () => unknown }).toJSON;
  if (typeof json === 'function') return redactForLog(json.call(value), seen);
  if (Array.isArray(value)) return value.map((v) => redactForLog(v, seen));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      sensitiveKey.test(k.toLowerCase().replace(/[-_]/g, '')) && v !== undefined && v !== null
        ? redactedMark
        : redactForLog(v, seen),
    ]),
  );
}
