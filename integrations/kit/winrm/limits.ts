import { InputError } from '../../../kernel/errors.ts';
import { windowsArg } from './quoting.ts';

/**
 * The two limits every command sent over WinRM must fit.
 * - Windows: CreateProcess takes a command line of at most 32,767 characters, the terminating
 *   null included; WinRS starts the program with CreateProcess when WINRS_SKIP_CMD_SHELL is set,
 *   so cmd.exe's own 8,191 does not apply.
 *   https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw
 * - WinRM: the service refuses a request larger than winrm/config MaxEnvelopeSizekb × 1,024 bytes
 *   (default 500, minimum 32) with HTTP 413.
 *   https://learn.microsoft.com/en-us/windows/win32/winrm/installation-and-configuration-for-windows-remote-management
 * `powershell.exe -EncodedCommand` carries the script as base64 of UTF-16LE: 4 × ⌈2n / 3⌉
 * characters for n UTF-16 code units, about 2.67 per script character, so a script fits in
 * roughly 12,200 characters; the chunker measures the exact line rather than trusting that.
 */
export const maxCommandLineChars = 32_767;
export const defaultMaxEnvelopeSizeKb = 500;

/** The command line WinRS hands to CreateProcess: the program, then each argument as the client quoted it. */
export function commandLineOf(command: string, args: readonly string[]): string {
  return [command, ...args.map(windowsArg)].join(' ');
}

export function commandLineFits(command: string, args: readonly string[]): boolean {
  return commandLineOf(command, args).length + 1 <= maxCommandLineChars;
}

/**
 * Splits `items` into as few consecutive slices as possible whose script (`build(slice)`) still
 * `fits`, keeping order. One item too large on its own is refused, naming it: no split can help.
 */
export function splitToFit<T>(
  items: readonly T[],
  build: (slice: readonly T[]) => string,
  fits: (script: string) => boolean,
  describe: (item: T) => string = String,
): string[] {
  const scripts: string[] = [];
  let start = 0;
  while (start < items.length) {
    if (!fits(build(items.slice(start, start + 1))))
      throw new InputError(
        `${describe(items[start]!)} alone makes a command longer than Windows (${maxCommandLineChars} characters) or WinRM (MaxEnvelopeSizekb) accept`,
      );
    // The script grows with every item, so the largest slice that fits is found by bisection.
    let low = 1;
    let high = items.length - start;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (fits(build(items.slice(start, start + mid)))) low = mid;
      else high = mid - 1;
    }
    scripts.push(build(items.slice(start, start + low)));
    start += low;
  }
  return scripts;
}
