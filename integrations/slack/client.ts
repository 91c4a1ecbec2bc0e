import { webApi } from '@slack/bolt';
import type { SlackConfig } from './config.ts';

/**
 * The Slack Web API transport for the worker's posts (the server's listeners use Bolt's own
 * client, built from the same settings). Rate-limited calls are retried by the client.
 */
export function createSlackClient(config: Pick<SlackConfig, 'botToken' | 'apiUrl'>): webApi.WebClient {
  return new webApi.WebClient(config.botToken, {
    slackApiUrl: config.apiUrl,
    retryConfig: { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 5000 },
    timeout: 10_000,
  });
}
