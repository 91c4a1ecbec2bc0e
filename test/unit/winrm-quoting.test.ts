import { describe, expect, it } from 'vitest';
import { readableStderr } from '../../integrations/kit/winrm/clixml.ts';
import { psQuote, windowsArg } from '../../integrations/kit/winrm/quoting.ts';
import { PowerShellHost } from '../emulators/powershell.ts';
import { splitWindowsCommandLine } from '../emulators/winrm.ts';

const awkward = [
  'plain',
  '',
  'two words',
  'tab\there',
  'quote"inside',
  'trailing\\',
  'C:\\Program Files\\PDQ\\',
  'back\\\\"slash',
  '"',
  '\\"',
  "it's",
  '‘smart’ ‚quotes‛',
  '%PATH% & | < > ^',
  "'; Remove-Item 'C:\\' ; '",
  'ünïcødé',
];

describe('quoting values for Windows command lines', () => {
  it('windowsArg survives the Windows runtime splitting the command line back into arguments', () => {
    const line = awkward.map(windowsArg).join(' ');
    expect(splitWindowsCommandLine(line)).toEqual(awkward);
  });

  it('psQuote yields a PowerShell literal whose value is exactly the input', () => {
    for (const value of awkward) {
      const out = new PowerShellHost({}).run(`$v = ${psQuote(value)}\r\n$v | ConvertTo-Json -Compress`);
      expect(out.exitCode, out.stderr).toBe(0);
      expect(JSON.parse(out.stdout)).toBe(value);
    }
  });

  it('refuses line breaks, which would end a statement', () => {
    expect(() => psQuote('a\nRemove-Item x')).toThrow(TypeError);
    expect(() => windowsArg('a\r\nb')).toThrow(TypeError);
  });

  it('reads PowerShell error records out of CLIXML', () => {
    const out = new PowerShellHost({}).run('Get-Nothing');
    expect(out.stderr.startsWith('#< CLIXML')).toBe(true);
    expect(readableStderr(out.stderr)).toMatch(/^Get-Nothing : The term 'Get-Nothing' is not recognized/);
    expect(readableStderr('plain text\r\n')).toBe('plain text');
  });
});
