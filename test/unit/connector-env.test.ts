import { describe, expect, it } from 'vitest';
import { connectorEnvVariables, connectorSettingsFromEnv, connectorsWithEnv } from '../../integrations/contract/env.ts';
import { connectorDefinitions } from '../../integrations/registry.ts';

const byId = (id: string) => connectorDefinitions.find((d) => d.id === id)!;

describe('connector settings from the environment, declared by each connector', () => {
  it('names each variable after the setting, with the declared exceptions and groups', () => {
    expect(connectorEnvVariables(byId('slack'))).toMatchObject({
      botToken: 'SLACK_BOT_TOKEN',
      signingSecret: 'SLACK_SIGNING_SECRET',
    });
    expect(connectorEnvVariables(byId('teams'))['botOpenIdMetadataUrl']).toBe('TEAMS_BOT_OPENID_METADATA_URL');
    expect(connectorEnvVariables(byId('jira-sm'))).toMatchObject({
      siteUrl: 'JIRA_SM_SITE_URL',
      'transitions.implement': 'JIRA_SM_TRANSITION_IMPLEMENT',
    });
    expect(connectorEnvVariables(byId('ansible'))).toEqual({});
  });

  it('no two connectors read the same variable', () => {
    const all = connectorDefinitions.flatMap((d) => Object.values(connectorEnvVariables(d)));
    expect(new Set(all).size).toBe(all.length);
  });

  it('a connector that requires a setting stays off without it, whatever else is set', () => {
    expect(connectorSettingsFromEnv(byId('slack'), { SLACK_CHANNEL: 'C1' })).toBeUndefined();
    expect(connectorSettingsFromEnv(byId('slack'), { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_CHANNEL: '' })).toEqual({
      botToken: 'xoxb-1',
    });
  });

  it('grouped variables form the nested setting and merge over the config file', () => {
    const merged = connectorsWithEnv(
      connectorDefinitions,
      { JIRA_SM_TRANSITION_IMPLEMENT: 'Implement', JIRA_SM_TRANSITION_CLOSED: 'Complete' },
      { ansible: {}, 'jira-sm': { siteUrl: 'https://acme.atlassian.net' } },
    );
    expect(merged).toEqual({
      ansible: {},
      'jira-sm': { siteUrl: 'https://acme.atlassian.net', transitions: { implement: 'Implement', closed: 'Complete' } },
    });
    expect(connectorsWithEnv(connectorDefinitions, {}, { ansible: {} })).toBeUndefined();
  });
});
