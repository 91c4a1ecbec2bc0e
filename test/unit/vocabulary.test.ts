import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { demoAssets } from '../../demo/seed.ts';
import { parseCsaf } from '../../integrations/feeds/csaf/parse.ts';
import { parseCvrf } from '../../integrations/feeds/msrc/parse.ts';
import {
  classificationOf,
  classifications,
  platformOf,
  platforms,
  type Platform,
} from '../../prioritization/vocabulary.ts';
import { readFixture } from '../helpers/connectors.ts';

const feedFile = (name: string): Buffer => {
  const body = readFileSync(new URL(`../fixtures/feeds/advisories/${name}`, import.meta.url));
  return name.endsWith('.gz') ? gunzipSync(body) : body;
};
const cvrfFiles = [
  'cvrfDocument-2017-May-B.xml',
  'cvrfDocument-2023-Dec.xml',
  'cvrfDocument-2025-Dec.xml.gz',
  'cvrfDocument-2026-Jan.xml.gz',
].map((f) => `msrc-cvrf/${f}`);
const csafFiles = ['bsi-2022-0001.json', 'cisco-sa-20180328-smi2.json', 'rhsa-2022_0011.json'].map((f) => `csaf/${f}`);

/** Every remediation of the CVRF documents as (Type, SubType), read with plain patterns, independently of the parser. */
function cvrfRemediations(): { type: string; subType: string | undefined }[] {
  return cvrfFiles.flatMap((f) =>
    [
      ...feedFile(f)
        .toString('utf8')
        .matchAll(/<(?:vuln:)?Remediation Type="([^"]+)">([\s\S]*?)<\/(?:vuln:)?Remediation>/g),
    ].map((m) => ({ type: m[1]!, subType: /<(?:vuln:)?SubType>([^<]*)</.exec(m[2]!)?.[1] })),
  );
}

describe('classifications: the WSUS titles', () => {
  it('are the titles Get-WsusClassification lists, and Upgrades', () => {
    const titles = readFixture('wsus/Get-WsusClassification.md.example1.txt')
      .split('\n')
      .slice(3)
      .map((line) => line.split(/\s{2,}/)[0]!.trim())
      .filter(Boolean);
    expect(titles).toHaveLength(10);
    expect([...classifications]).toEqual([...titles, 'Upgrades']);
    for (const t of titles) {
      expect(classificationOf(t)).toBe(t);
      expect(classificationOf(t.toUpperCase())).toBe(t);
    }
  });

  it('are what every MSRC Vendor Fix SubType of the fixtures means: Security Updates', () => {
    const vendorFixes = new Set(
      cvrfRemediations()
        .filter((r) => r.type === 'Vendor Fix')
        .map((r) => r.subType),
    );
    expect([...vendorFixes].sort()).toEqual([
      'IE Cumulative',
      'Linux Update',
      'Monthly Rollup',
      'Security Hotpatch Update',
      'Security Only',
      'Security Update',
      'Windows Update',
    ]);
    for (const subType of vendorFixes) expect(classificationOf(subType), subType).toBe('Security Updates');
  });

  it('leave the SubTypes of MSRC Release Notes unclassified: they name documentation, not a patch', () => {
    const notes = new Set(
      cvrfRemediations()
        .filter((r) => r.type === 'Release Notes' && !/^\d+$/.test(r.subType ?? ''))
        .map((r) => r.subType),
    );
    expect([...notes].sort()).toEqual(['CBL-Mariner Releases', 'Change Log', 'Click to Run', 'Release Notes']);
    for (const subType of notes) expect(classificationOf(subType), subType).toBeUndefined();
  });

  it('read CSAF vendor_fix as Security Updates, and no other remediation category as a patch', () => {
    const categories = new Set(
      csafFiles.flatMap((f) =>
        (
          JSON.parse(feedFile(f).toString('utf8')) as { vulnerabilities?: { remediations?: { category: string }[] }[] }
        ).vulnerabilities?.flatMap((v) => v.remediations?.map((r) => r.category) ?? []),
      ),
    );
    expect([...categories].sort()).toEqual(['vendor_fix', 'workaround']);
    expect(classificationOf('vendor_fix')).toBe('Security Updates');
    expect(classificationOf('workaround')).toBeUndefined();
    expect(classificationOf('mitigation')).toBeUndefined();
  });
});

describe('platforms', () => {
  it('read each MSRC product family of the fixtures as the platform its patches install on', () => {
    const families = new Set(
      cvrfFiles.flatMap((f) =>
        [
          ...feedFile(f)
            .toString('utf8')
            .matchAll(/Branch Type="Product Family" Name="([^"]+)"/g),
        ].map((m) => m[1]!),
      ),
    );
    const expected: Record<string, Platform | undefined> = {
      Windows: 'windows',
      ESU: 'windows',
      'Microsoft Office': 'windows',
      Browser: 'windows',
      'SQL Server': 'windows',
      'Server Software': 'windows',
      'Microsoft Dynamics': 'windows',
      'System Center': 'windows',
      'Developer Tools': 'windows',
      Mariner: 'linux',
      Azure: undefined,
      Apps: undefined,
      'Open Source Software': undefined,
      Other: undefined,
    };
    // A family a new fixture brings needs a decision here.
    expect([...families].sort()).toEqual(Object.keys(expected).sort());
    for (const family of families) expect(platformOf(family), family).toBe(expected[family]);
  });

  it('read product names before the family, so a Mac build or an Azure Linux package is not the family’s', () => {
    expect(platformOf('Microsoft Office LTSC for Mac 2021', 'Microsoft Office')).toBe('macos');
    expect(platformOf('azl3 kernel 6.6.117.1-1 on Azure Linux 3.0', 'Open Source Software')).toBe('linux');
    expect(platformOf('cbl2 php 8.1.33-1 on CBL Mariner 2.0')).toBe('linux');
    expect(platformOf('Microsoft Edge for Android', 'Browser')).toBeUndefined();
    expect(platformOf('Microsoft Office 2019 for 32-bit editions', 'Microsoft Office')).toBe('windows');
    expect(platformOf('Red Hat Enterprise Linux')).toBe('linux');
    expect(platformOf('CVRF-CSAF-Converter')).toBeUndefined();
    expect(platformOf(undefined, null, '')).toBeUndefined();
  });

  it('are the demo’s', () => {
    expect(demoAssets.every((a) => (platforms as readonly string[]).includes(a.platform))).toBe(true);
  });
});

describe('the feeds write the vocabulary', () => {
  const msrc = cvrfFiles.flatMap((f) => parseCvrf(feedFile(f)).batch.advisories.flatMap((a) => a.remediations));
  const byRef = (ref: string) => msrc.find((r) => r.vendorRef === ref);

  it('MSRC: every patch is Security Updates on a platform of the vocabulary or none; the SubType stays in the title', () => {
    expect(msrc.length).toBeGreaterThan(200);
    expect(new Set(msrc.map((r) => r.classification))).toEqual(new Set(['Security Updates']));
    expect(new Set(msrc.map((r) => r.platform))).toEqual(new Set([...platforms, undefined]));
    expect(byRef('KB5033371')).toMatchObject({
      title: '2023-Dec Security Update KB5033371',
      classification: 'Security Updates',
      platform: 'windows',
    });
    expect(byRef('KB5033420')).toMatchObject({ title: '2023-Dec Monthly Rollup KB5033420', platform: 'windows' });
    // An Office KB installs on a Windows host.
    expect(byRef('KB5002520')).toMatchObject({
      product: expect.stringMatching(/^Microsoft Office 2016/),
      platform: 'windows',
    });
    expect(byRef('Microsoft Office LTSC for Mac 2021 16.104.25121423')?.platform).toBe('macos');
    expect(byRef('Microsoft Edge for Android 143.0.3650.88')?.platform).toBeUndefined();
    expect(byRef('azl3 kernel 6.6.112.1-2 on Azure Linux 3.0 (CBL-Mariner Releases, 2025-Dec)')?.platform).toBe(
      'linux',
    );
    // The Azure Connected Machine Agent: one fix per operating system, told apart by the SubType.
    expect(byRef('Azure Connected Machine Agent 1.60.03293.2680')).toMatchObject({
      title: '2026-Jan Windows Update Azure Connected Machine Agent 1.60.03293.2680',
      platform: 'windows',
    });
    expect(byRef('Azure Connected Machine Agent 1.60.03293.809')?.platform).toBe('linux');
  });

  it('CSAF: a vendor_fix is Security Updates on its product family’s platform', () => {
    const csaf = csafFiles.flatMap((f) => parseCsaf(feedFile(f)).advisories.flatMap((a) => a.remediations));
    expect(csaf.map((r) => [r.vendorRef, r.classification, r.platform])).toEqual([
      ['BSI-2022-0001', 'Security Updates', undefined],
      ['RHSA-2022:0011', 'Security Updates', 'linux'],
    ]);
  });
});
