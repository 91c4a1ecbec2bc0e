/**
 * Package and build versions in an order the database can compare: `versionKey(a) < versionKey(b)`
 * (byte order, collation "C") exactly when rpm's `rpmvercmp` ranks a below b, epoch first, then
 * version, then release. Windows builds (10.0.20348.4648) and most Debian versions order the same
 * way. A key is computed once, when a version is written, so applicability is one indexed
 * comparison per asset × patch instead of a version parser inside every query.
 *
 * rpmvercmp: versions split into runs of digits and runs of letters (anything else only
 * separates); digit runs compare as numbers and rank above letter runs; letter runs compare as
 * strings; `~` ranks below everything, even the end of the version (1.0~rc1 < 1.0); `^` ranks above
 * the end but below any further run (1.0 < 1.0^git1 < 1.0.1); a version with more runs is newer.
 */

// Markers in increasing order, each a single byte below the letters and digits they introduce.
const TILDE = '!';
const END = '#';
const CARET = '%';
const LETTERS = '(';
const DIGITS = ')';
/** Ends a letter run; ranks below every letter, so that "a" < "ab". */
const LETTERS_END = ' ';

function partKey(part: string): string {
  let key = '';
  let i = 0;
  while (i < part.length) {
    const c = part[i]!;
    if (c === '~') {
      key += TILDE;
      i++;
    } else if (c === '^') {
      key += CARET;
      i++;
    } else if (/[0-9]/.test(c)) {
      let j = i;
      while (j < part.length && /[0-9]/.test(part[j]!)) j++;
      const digits = part.slice(i, j).replace(/^0+(?=.)/, '');
      // Two digits of length keep 10 above 9; no version has a run of 100 digits.
      key += DIGITS + String(Math.min(digits.length, 99)).padStart(2, '0') + digits;
      i = j;
    } else if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (j < part.length && /[A-Za-z]/.test(part[j]!)) j++;
      key += LETTERS + part.slice(i, j) + LETTERS_END;
      i = j;
    } else i++;
  }
  return key + END;
}

export interface PackageVersion {
  epoch: string;
  version: string;
  release: string;
}

/** `[epoch:]version[-release]`, as rpm and CSAF product names write it; the epoch defaults to 0. */
export function splitVersion(text: string): PackageVersion {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  const epoch = colon > 0 && /^\d+$/.test(trimmed.slice(0, colon)) ? trimmed.slice(0, colon) : '0';
  const rest = colon > 0 && epoch !== '0' ? trimmed.slice(colon + 1) : trimmed.replace(/^0:/, '');
  const dash = rest.lastIndexOf('-');
  return dash > 0
    ? { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) }
    : { epoch, version: rest, release: '' };
}

/** The comparable key of a version; see the module comment for the order it follows. */
export function versionKey(text: string): string {
  const v = splitVersion(text);
  return partKey(v.epoch) + partKey(v.version) + partKey(v.release);
}

/** Whether `installed` is older than `fixed`, by the keys' order. */
export function isOlder(installed: string, fixed: string): boolean {
  return versionKey(installed) < versionKey(fixed);
}

export interface Nevra extends PackageVersion {
  name: string;
  arch: string;
}

const knownArches = new Set(['x86_64', 'i686', 'i386', 'noarch', 'src', 'aarch64', 'ppc64le', 's390x', 'ppc64']);

/**
 * `name-[epoch:]version-release[.arch]`, as Red Hat names packages in CSAF product trees
 * (telnet-1:0.17-65.el7_6.x86_64) and Nessus in its local checks (telnet-0.17-64.el7). Undefined
 * when the text has no version and release.
 */
export function parseNevra(text: string): Nevra | undefined {
  let rest = text.trim();
  let arch = '';
  const dot = rest.lastIndexOf('.');
  if (dot > 0 && knownArches.has(rest.slice(dot + 1))) {
    arch = rest.slice(dot + 1);
    rest = rest.slice(0, dot);
  }
  const releaseDash = rest.lastIndexOf('-');
  const versionDash = releaseDash > 0 ? rest.lastIndexOf('-', releaseDash - 1) : -1;
  if (versionDash <= 0) return undefined;
  const name = rest.slice(0, versionDash);
  const evr = splitVersion(rest.slice(versionDash + 1));
  if (!/\d/.test(evr.version)) return undefined;
  return { name, arch, ...evr };
}

/** A NEVRA's version as `versionKey` reads it. */
export const evrText = (v: PackageVersion): string =>
  `${v.epoch === '0' ? '' : `${v.epoch}:`}${v.version}${v.release ? `-${v.release}` : ''}`;
