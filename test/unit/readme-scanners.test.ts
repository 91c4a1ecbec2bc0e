import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { connectorSettingsFromEnv } from '../../integrations/contract/env.ts';
import { nessusConnector } from '../../integrations/nessus/index.ts';
import { openvasConnector } from '../../integrations/openvas/index.ts';
import { loadSettings } from '../../runtime/settings.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The `export NAME=value` lines of the README section under `heading`, as a shell would set them. */
function sectionEnv(heading: string): Record<string, string> {
  const start = readme.indexOf(`### ${heading}`);
  expect(start, heading).toBeGreaterThan(0);
  const section = readme.slice(start, readme.indexOf('\n### ', start + 4));
  const env: Record<string, string> = {};
  for (const line of section.match(/^export .*$/gm) ?? [])
    for (const [, name, value] of line.replace(/#.*$/, '').matchAll(/([A-Z_]+)=(\S+)/g))
      // The README elides secrets as "…"; any value stands in for them.
      env[name!] = value === '…' ? 'x'.repeat(64) : value!;
  return env;
}

describe('the README’s scanner setup, as written', () => {
  it('Nessus: the variables it shows configure the connector and the verify scanner', () => {
    const env = sectionEnv('Connecting Nessus / Tenable');
    expect(env).toHaveProperty('NESSUS_URL');
    const config = nessusConnector.configSchema.parse(connectorSettingsFromEnv(nessusConnector, env));
    expect(config).toMatchObject({ url: 'https://nessus.corp.example:8834', caFile: '/etc/patchflow/nessus-ca.pem' });
    expect(loadSettings(env).verifyScanner).toBe('nessus');
  });

  it('Greenbone: the variables it shows configure the connector and the verify scanner', () => {
    const env = sectionEnv('Connecting Greenbone / OpenVAS');
    const config = openvasConnector.configSchema.parse(connectorSettingsFromEnv(openvasConnector, env));
    expect(config).toMatchObject({ socketPath: '/run/gvmd/gvmd.sock', username: 'patchflow' });
    expect(loadSettings(env).verifyScanner).toBe('openvas');
  });
});
