import { describe, expect, it } from 'vitest';
import { InputError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { baselineSchema, decidePatch, evaluateBaseline, type BaselinePatch } from '../../prioritization/baselines.ts';

const windows = baselineSchema.parse({
  id: 'windows-servers',
  platform: 'windows',
  rules: [
    { classifications: ['Security Updates'], minSeverity: 'critical', approveAfter: '3d' },
    { classifications: ['Security Updates'], minSeverity: 'important', approveAfter: '14d' },
    { classifications: ['Definition Updates'], approveAfter: '0d' },
  ],
  approve: ['KB5002520'],
  reject: ['KB5033375', 'KB5002520x'],
});
const kb = (over: Partial<BaselinePatch>): BaselinePatch => ({
  id: 'KB5033371',
  vendorRef: 'KB5033371',
  classification: 'Security Updates',
  severity: 'Critical',
  platform: 'windows',
  releasedAt: '2023-12-12',
  ...over,
});
const at = (date: string) => new Date(`${date}T12:00:00Z`);

describe('evaluateBaseline', () => {
  it('approves a critical security update N days after release, not before', () => {
    expect(evaluateBaseline(kb({}), windows, at('2023-12-14'))).toEqual({
      approved: false,
      reason:
        'rule 1 (Security Updates, critical or worse, 3d after release) approves it on 2023-12-15 (released 2023-12-12)',
    });
    expect(evaluateBaseline(kb({}), windows, at('2023-12-15'))).toEqual({
      approved: true,
      reason:
        'approved by rule 1 (Security Updates, critical or worse, 3d after release): released 2023-12-12, approvable since 2023-12-15',
    });
  });

  it('gives an Important update the longer delay, and reads CSAF "High" as Important', () => {
    expect(evaluateBaseline(kb({ severity: 'Important' }), windows, at('2023-12-20')).approved).toBe(false);
    expect(evaluateBaseline(kb({ severity: 'Important' }), windows, at('2023-12-26')).approved).toBe(true);
    expect(evaluateBaseline(kb({ severity: 'High' }), windows, at('2023-12-26')).approved).toBe(true);
  });

  it('holds what no rule covers: a Moderate security update, an unclassified patch', () => {
    expect(evaluateBaseline(kb({ severity: 'Moderate' }), windows, at('2024-06-01'))).toEqual({
      approved: false,
      reason: 'no rule of baseline windows-servers covers Security Updates patches of Moderate severity',
    });
    expect(evaluateBaseline(kb({ classification: null, severity: null }), windows, at('2024-06-01')).reason).toBe(
      'no rule of baseline windows-servers covers unclassified patches of unknown severity',
    );
  });

  it('applies explicit lists first; reject wins and matches the vendor reference case-insensitively', () => {
    expect(evaluateBaseline(kb({ id: 'KB5033375', vendorRef: 'KB5033375' }), windows, at('2024-06-01'))).toEqual({
      approved: false,
      reason: 'KB5033375 is on the reject list of baseline windows-servers',
    });
    expect(
      evaluateBaseline(
        kb({ id: 'kb5002520', vendorRef: 'kb5002520', severity: 'Low', releasedAt: null }),
        windows,
        at('2020-01-01'),
      ),
    ).toEqual({ approved: true, reason: 'kb5002520 is on the approve list of baseline windows-servers' });
  });

  it('judges only its own platform, unless it is for every platform', () => {
    const rhel = {
      id: 'RHSA-2022:0011',
      vendorRef: 'RHSA-2022:0011',
      classification: 'Security Updates',
      severity: 'Important',
      platform: 'linux',
      releasedAt: '2022-01-04',
    };
    expect(evaluateBaseline(rhel, windows, at('2024-01-01'))).toEqual({
      approved: false,
      reason: 'baseline windows-servers is for windows, RHSA-2022:0011 is for linux',
    });
    expect(evaluateBaseline(rhel, { ...windows, platform: '*' }, at('2024-01-01')).approved).toBe(true);
  });

  it('refuses to guess a release date, and approves on release with a 0d delay', () => {
    expect(evaluateBaseline(kb({ releasedAt: null }), windows, at('2030-01-01')).reason).toMatch(
      /release date of KB5033371 is unknown/,
    );
    expect(
      evaluateBaseline(
        kb({ classification: 'Definition Updates', severity: null, releasedAt: '2024-05-01' }),
        windows,
        at('2024-05-01'),
      ).approved,
    ).toBe(true);
  });

  it('validates a baseline, naming the bad field', () => {
    expect(() =>
      parseInput(
        baselineSchema,
        { id: 'bad id', platform: 'windows', rules: [{ approveAfter: 'a week' }] },
        'baseline',
      ),
    ).toThrow(InputError);
    try {
      parseInput(
        baselineSchema,
        { id: 'bad id', platform: 'windows', rules: [{ approveAfter: 'a week', minSeverity: 'urgent' }] },
        'baseline',
      );
    } catch (err) {
      expect((err as InputError).details.map((d) => d.path.join('.'))).toEqual([
        'id',
        'rules.0.minSeverity',
        'rules.0.approveAfter',
      ]);
    }
  });

  it('refuses a classification or platform outside the vocabulary, naming the field and the known names', () => {
    const refusal = (input: unknown) => {
      try {
        parseInput(baselineSchema, input, 'baseline');
      } catch (err) {
        if (err instanceof InputError) return err;
        throw err;
      }
      throw new Error('accepted');
    };
    const err = refusal({
      id: 'windows-servers',
      platform: 'Windows Server',
      rules: [{ classifications: ['Security Updates', 'Security Update'], approveAfter: '3d' }],
    });
    expect(err.details).toEqual([
      {
        path: ['platform'],
        message:
          '"Windows Server" is not a platform Patchflow knows (did you mean "windows"?); the platforms are: windows, linux, macos, *',
      },
      {
        path: ['rules', 0, 'classifications', 1],
        message:
          '"Security Update" is not a classification Patchflow knows (did you mean "Security Updates"?); the classifications are: Applications, Critical Updates, Definition Updates, Drivers, Feature Packs, Security Updates, Service Packs, Tools, Update Rollups, Updates, Upgrades',
      },
    ]);
    expect(err.message).toMatch(/^invalid baseline: platform: .*; rules\.0\.classifications\.1: /);
    expect(
      refusal({ id: 'x', platform: '*', rules: [{ classifications: ['Hotfixes'], approveAfter: '0d' }] }).details[0]
        ?.message,
    ).toMatch(/^"Hotfixes" is not a classification Patchflow knows; the classifications are: Applications, /);
  });

  it('takes the names in any case and keeps the vocabulary’s spelling', () => {
    expect(
      baselineSchema.parse({
        id: 'w',
        platform: ' WINDOWS ',
        rules: [{ classifications: ['security updates', 'Definition updates'], approveAfter: '0d' }],
      }),
    ).toMatchObject({ platform: 'windows', rules: [{ classifications: ['Security Updates', 'Definition Updates'] }] });
  });
});

describe('decidePatch: every baseline covering the platform together', () => {
  const everything = baselineSchema.parse({ id: 'all-platforms', platform: '*', rules: [{ approveAfter: '0d' }] });
  const frozen = baselineSchema.parse({ id: 'change-freeze', platform: 'windows', reject: ['KB5033371'] });

  it('approves when one covering baseline approves, and names it', () => {
    expect(decidePatch(kb({}), [windows, everything], at('2023-12-13'))).toEqual({
      approved: true,
      reason:
        'approved by rule 1 (any classification, 0d after release): released 2023-12-12, approvable since 2023-12-12',
    });
  });

  it('lets a reject list win over any approval', () => {
    expect(decidePatch(kb({}), [everything, windows, frozen], at('2024-06-01'))).toEqual({
      approved: false,
      reason: 'KB5033371 is on the reject list of baseline change-freeze',
    });
  });

  it('explains a patch no baseline covers, or one still waiting for its delay', () => {
    expect(decidePatch(kb({ platform: 'macos' }), [windows], at('2024-06-01'))).toEqual({
      approved: false,
      reason: 'no baseline covers the macos platform; name KB5033371 explicitly to include it',
    });
    expect(decidePatch(kb({}), [windows], at('2023-12-13')).reason).toBe(
      'rule 1 (Security Updates, critical or worse, 3d after release) approves it on 2023-12-15 (released 2023-12-12)',
    );
  });
});
