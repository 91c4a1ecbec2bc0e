import { describe, expect, it } from 'vitest';
import { forHost, runStagingChecks } from '../../app/staging-checks.ts';
import { stagingChecksSchema } from '../../app/cycle-policy.ts';

describe('staging checks: commands', () => {
  const hosts = [{ hostname: 'stg-01', address: '10.0.0.5' }];

  it('fills in the host, passes on exit 0 and fails with the exit code and the last line of stderr', async () => {
    const checks = stagingChecksSchema.parse({
      functional: [
        {
          name: 'reachable',
          command: [process.execPath, '-e', 'process.argv[1] === "10.0.0.5" || process.exit(9)', '{address}'],
        },
        {
          name: 'app-check',
          command: [process.execPath, '-e', 'console.error("service patchd is inactive"); process.exit(3)'],
        },
      ],
    });
    const report = await runStagingChecks(checks, hosts, {});
    expect(report.passed).toBe(false);
    expect(report.results).toEqual([
      {
        name: 'reachable',
        kind: 'functional',
        hostname: 'stg-01',
        passed: true,
        detail: `${process.execPath} exited 0`,
      },
      {
        name: 'app-check',
        kind: 'functional',
        hostname: 'stg-01',
        passed: false,
        detail: `${process.execPath} exited 3: service patchd is inactive`,
      },
    ]);
  });

  it('a command that outlasts its timeout fails as such', async () => {
    const checks = stagingChecksSchema.parse({
      functional: [{ name: 'hangs', command: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'], timeout: '1s' }],
    });
    const [result] = (await runStagingChecks(checks, hosts, {})).results;
    expect(result).toMatchObject({ passed: false, detail: `${process.execPath} did not finish within 1s` });
  });

  it('uses the hostname where an asset has no address', () => {
    expect(forHost('https://{address}/health?h={hostname}', { hostname: 'web-01', address: undefined })).toBe(
      'https://web-01/health?h=web-01',
    );
  });

  it('refuses two checks of one name', () => {
    const parsed = stagingChecksSchema.safeParse({
      functional: [{ name: 'health', command: ['true'] }],
      performance: [{ name: 'health', http: { url: 'http://app/' } }],
    });
    expect(parsed.success ? [] : parsed.error.issues.map((i) => i.message)).toEqual(['check names must be unique']);
  });
});
