import { describe, expect, it } from 'vitest';
import { chatStatusLine } from '../../app/publish/chat.ts';
import { configureRegistry } from '../../runtime/context.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { createLogger } from '../../kernel/logger.ts';

const registryFor = (env: Record<string, string>) => {
  const settings = loadSettings({ PATCHFLOW_DATA_DIR: '/tmp/patchflow-chat-settings', ...env });
  return { settings, registry: configureRegistry(settings, createLogger({}, 'error')) };
};
const slackEnv = { SLACK_BOT_TOKEN: 'xoxb-1-2-3', SLACK_SIGNING_SECRET: 'secret', SLACK_CHANNEL: 'C0APPROVAL' };
const teamsEnv = {
  TEAMS_APP_ID: '9a3c2b1e-5f4d-4c6b-8a7e-1d2f3a4b5c6d',
  TEAMS_APP_PASSWORD: 'secret',
  TEAMS_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  TEAMS_CHANNEL_ID: '19:patch-approvals@thread.tacv2',
};

describe('chat settings', () => {
  it('without credentials chat is off, said in one line, and the deployer is still configured', () => {
    const { settings, registry } = registryFor({});
    expect(Object.keys(settings.connectors)).toEqual(['ansible']);
    expect(chatStatusLine(registry)).toBe(
      'chat is off: no Slack or Teams credentials configured; approvals work from the CLI and REST',
    );
  });

  it('SLACK_* and TEAMS_* variables turn each chat on next to the default deployer, secrets redacted', () => {
    const { settings, registry } = registryFor({ ...slackEnv, ...teamsEnv });
    expect(Object.keys(settings.connectors).sort()).toEqual(['ansible', 'slack', 'teams']);
    expect(chatStatusLine(registry)).toBe(
      'chat is on: slack and teams; approval cards and progress are posted there, and approvals still work from the CLI and REST',
    );
    expect(registry.get('slack').redactedConfig).toMatchObject({
      botToken: '***',
      signingSecret: '***',
      channel: 'C0APPROVAL',
      command: '/patch',
    });
    expect(registry.get('teams').redactedConfig).toMatchObject({
      appPassword: '***',
      channelId: '19:patch-approvals@thread.tacv2',
    });
  });

  it('a wrong setting stops start-up with its path', () => {
    expect(() => registryFor({ ...slackEnv, SLACK_CHANNEL: '#approvals' })).toThrow(
      /connectors\.slack\.channel: a channel id such as C0123ABCD/,
    );
    expect(() => registryFor({ ...teamsEnv, TEAMS_APP_ID: 'patchflow' })).toThrow(/connectors\.teams\.appId/);
  });
});
