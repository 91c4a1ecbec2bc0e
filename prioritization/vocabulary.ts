import { z } from 'zod';

/**
 * One vocabulary for what kind of update a patch is (its classification) and what it installs on
 * (its platform), shared by the feeds, the baselines and the demo. Feeds turn the vendor's own
 * words into these names when they import; a baseline may name only these.
 */

/**
 * WSUS's update classifications, spelled as WSUS titles them: the ten `Get-WsusClassification`
 * lists (Windows Server 2025 UpdateServices documentation, Example 1), and Upgrades, which WSUS 4.0
 * gained with KB3095113 for Windows 10 feature updates (category 3689bdc8-b205-4af4-8d4a-a63924c5e9d5).
 */
export const classifications = [
  'Applications',
  'Critical Updates',
  'Definition Updates',
  'Drivers',
  'Feature Packs',
  'Security Updates',
  'Service Packs',
  'Tools',
  'Update Rollups',
  'Updates',
  'Upgrades',
] as const;
export type Classification = (typeof classifications)[number];

/**
 * What Patchflow's deployers install on: Windows (WSUS, SCCM, PDQ, Ansible over WinRM), Linux
 * (Ansible, AWX) and macOS (Microsoft's Office for Mac builds, which MSRC lists with the rest).
 */
export const platforms = ['windows', 'linux', 'macos'] as const;
export type Platform = (typeof platforms)[number];

const byLowerCase = <T extends string>(names: readonly T[]) => new Map(names.map((n) => [n.toLowerCase(), n]));

/**
 * The feeds' words for a patch's kind. Every MSRC Vendor Fix is a release of the Security Update
 * Guide, and Microsoft classifies the monthly security releases (the cumulative "Security Update",
 * the "Monthly Rollup" and "Security Only" updates of older Windows, hotpatches) as Security Updates
 * in WSUS and Configuration Manager; only non-security and out-of-band releases are Updates.
 * The SubTypes of MSRC's Release Notes remediations ("Click to Run", "CBL-Mariner Releases",
 * "Release Notes", a KB number) describe documentation, not a patch, and are not read.
 */
const classificationWords = new Map<string, Classification>([
  ...byLowerCase(classifications),
  // MSRC CVRF: the SubType of a Vendor Fix remediation.
  ['security update', 'Security Updates'],
  ['security hotpatch update', 'Security Updates'],
  ['monthly rollup', 'Security Updates'],
  ['security only', 'Security Updates'],
  ['ie cumulative', 'Security Updates'],
  // The Azure Connected Machine Agent's fix, per operating system.
  ['windows update', 'Security Updates'],
  ['linux update', 'Security Updates'],
  // CSAF 2.0: a vendor_fix remediation is the vendor's security fix.
  ['vendor_fix', 'Security Updates'],
]);

/** The classification a feed's word for a patch's kind means (any case); undefined for a word it does not know. */
export function classificationOf(word: string | null | undefined): Classification | undefined {
  return word ? classificationWords.get(word.trim().toLowerCase()) : undefined;
}

/**
 * Vendors' product families. MSRC's Office, SQL Server, Exchange and SharePoint ("Server
 * Software"), Dynamics, System Center, developer tools and Edge ("Browser") patches are Windows
 * installers: an Office KB runs on a Windows host. SQL Server on Linux is patched by packages, not by
 * the KBs MSRC lists. Families that span platforms or name services (Azure, Apps, Open Source
 * Software, Other) say nothing; their product names may.
 */
const platformWords = new Map<string, Platform>([
  ...byLowerCase(platforms),
  ['esu', 'windows'],
  ['microsoft office', 'windows'],
  ['browser', 'windows'],
  ['sql server', 'windows'],
  ['server software', 'windows'],
  ['microsoft dynamics', 'windows'],
  ['system center', 'windows'],
  ['developer tools', 'windows'],
  ['mariner', 'linux'],
]);

/**
 * Product and platform names that say what they run on, first match wins: "Windows Server 2019",
 * "Red Hat Enterprise Linux", "azl3 httpd 2.4.65-1 on Azure Linux 3.0", "cbl2 php 8.1.33-1 on CBL
 * Mariner 2.0", "Microsoft Office LTSC for Mac 2021". A mobile product ("Microsoft Edge for
 * Android") is none of Patchflow's platforms, whatever its family.
 */
const platformPatterns: [RegExp, Platform | null][] = [
  [/\b(android|ios|ipados)\b/i, null],
  [/\bwindows\b/i, 'windows'],
  [/\b(linux|mariner)\b/i, 'linux'],
  [/\b(mac|macos|os x)\b/i, 'macos'],
];

/**
 * The platform a patch installs on, from what its feed says of it, most specific first: its product
 * names, then the vendor's family (MSRC's product family branch, CSAF's product_family). Undefined
 * when nothing said names one of Patchflow's platforms.
 */
export function platformOf(...said: (string | null | undefined)[]): Platform | undefined {
  for (const word of said) {
    if (!word) continue;
    const known = platformWords.get(word.trim().toLowerCase());
    if (known) return known;
    const match = platformPatterns.find(([pattern]) => pattern.test(word));
    if (match) return match[1] ?? undefined;
  }
  return undefined;
}

/**
 * A name a person types (a baseline's classification or platform): any case, kept in the
 * vocabulary's spelling. Anything else is refused, listing the names and, for a vendor's word, the
 * name it means.
 */
export function vocabularyNameSchema<T extends string>(
  what: string,
  names: readonly T[],
  meaning: (said: string) => string | undefined,
) {
  const known = byLowerCase(names);
  return z
    .string()
    .trim()
    .min(1)
    .transform((said, ctx): T => {
      const name = known.get(said.toLowerCase());
      if (name) return name;
      const meant = meaning(said);
      ctx.addIssue({
        code: 'custom',
        input: said,
        message: `"${said}" is not a ${what} Patchflow knows${meant ? ` (did you mean "${meant}"?)` : ''}; the ${what}s are: ${names.join(', ')}`,
      });
      return z.NEVER;
    });
}

export const classificationSchema = vocabularyNameSchema('classification', classifications, classificationOf);
