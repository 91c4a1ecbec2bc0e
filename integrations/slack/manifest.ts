import { commandHelp } from '../kit/chat/commands.ts';
import { SLACK_EVENTS_PATH } from './receiver.ts';

/**
 * The Slack app manifest (api.slack.com/reference/manifests): paste it at api.slack.com/apps →
 * Create New App → From an app manifest. Every request URL points at Patchflow's one endpoint.
 */
export function slackManifest(opts: { publicUrl: string; command: string; name?: string }) {
  const url = new URL(SLACK_EVENTS_PATH, opts.publicUrl).toString();
  const name = opts.name ?? 'Patchflow';
  return {
    _metadata: { major_version: 2, minor_version: 1 },
    display_information: {
      name,
      description: 'Patch change approvals and patch cycles',
      long_description: `Approve or reject patch changes where you work, with their full context: scope, risk, staging results, window and rollback plan. Coordinators start, follow, pause and resume patch cycles with ${opts.command}.\n\n${commandHelp}`,
      background_color: '#1d3557',
    },
    features: {
      app_home: { home_tab_enabled: true, messages_tab_enabled: false, messages_tab_read_only_enabled: true },
      bot_user: { display_name: name, always_online: true },
      slash_commands: [
        {
          command: opts.command,
          url,
          description: 'Patchflow: approvals and patch cycles',
          usage_hint: 'help | start demo | status [cycle] | approvals | pause|resume|cancel <cycle>',
          should_escape: false,
        },
      ],
    },
    oauth_config: { scopes: { bot: ['chat:write', 'commands'] } },
    settings: {
      event_subscriptions: { request_url: url, bot_events: ['app_home_opened'] },
      interactivity: { is_enabled: true, request_url: url },
      org_deploy_enabled: false,
      socket_mode_enabled: false,
      token_rotation_enabled: false,
    },
  };
}
