/**
 * Quoting values into command lines run on Windows hosts. Every value that came from outside
 * (hostnames, package and group names, KB numbers) passes through one of these; none is ever
 * spliced into a command line raw.
 */

/**
 * A PowerShell single-quoted string literal. Inside single quotes PowerShell expands nothing;
 * the only escape is a doubled quote, and PowerShell treats the typographic quotes U+2018–U+201B
 * as single quotes too, so those are doubled as well.
 */
export function psQuote(value: string): string {
  if (/[\0\r\n]/.test(value)) throw new TypeError('a PowerShell literal cannot carry NUL or line breaks');
  return `'${value.replace(/['\u2018\u2019\u201A\u201B]/g, (q) => q + q)}'`;
}

/**
 * One argument for a process started without cmd.exe (WINRS_SKIP_CMD_SHELL), quoted so that the
 * Windows C runtime (CommandLineToArgvW) splits it back into exactly this string: backslashes
 * double only before a quote, quotes are escaped with a backslash.
 */
export function windowsArg(value: string): string {
  if (/[\0\r\n]/.test(value)) throw new TypeError('a command-line argument cannot carry NUL or line breaks');
  if (value !== '' && !/[\s"]/.test(value)) return value;
  let out = '"';
  let backslashes = 0;
  for (const ch of value) {
    if (ch === '\\') {
      backslashes++;
      continue;
    }
    if (ch === '"') {
      out += '\\'.repeat(backslashes * 2 + 1) + '"';
    } else {
      out += '\\'.repeat(backslashes) + ch;
    }
    backslashes = 0;
  }
  return `${out}${'\\'.repeat(backslashes * 2)}"`;
}

/** `powershell.exe -EncodedCommand` takes the script as base64 of UTF-16LE, which sidesteps command-line quoting entirely. */
export function encodePowerShell(script: string): string {
  return Buffer.from(script, 'utf16le').toString('base64');
}
