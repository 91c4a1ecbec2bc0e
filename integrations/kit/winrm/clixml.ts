import { findElements, parseXml } from './xml.ts';

const psNamespace = 'http://schemas.microsoft.com/powershell/2004/04';

/**
 * PowerShell run with -EncodedCommand over a remote shell writes its error and progress streams
 * as CLIXML (`#< CLIXML` then `<Objs>`), not as text. This returns the error records as text, with
 * PowerShell's `_x000D__x000A_` escapes decoded; anything that is not CLIXML is returned as it is.
 */
export function readableStderr(stderr: string): string {
  const marker = stderr.indexOf('#< CLIXML');
  if (marker < 0) return stderr.trim();
  const before = stderr.slice(0, marker).trim();
  const xml = stderr.slice(marker + '#< CLIXML'.length).trim();
  let errors: string[];
  try {
    errors = findElements(parseXml(xml), psNamespace, 'S')
      .filter((s) => s.attrs['S'] === 'Error')
      .map((s) => decodePsEscapes(s.text));
  } catch {
    return stderr.trim();
  }
  return [before, errors.join('').trim()].filter(Boolean).join('\n');
}

function decodePsEscapes(text: string): string {
  return text.replace(/_x([0-9A-Fa-f]{4})_/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
