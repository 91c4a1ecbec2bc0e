import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import signedExample from '../fixtures/chat/slack/slack_docs_signed_slash_command.json' with { type: 'json' };
import { upsertUser } from '../../db/repositories/users.ts';
import { slackSignatureProblem } from '../../integrations/slack/receiver.ts';
import { slackManifest } from '../../integrations/slack/manifest.ts';
import { SlackApiEmulator, type SlackCall } from '../emulators/slack.ts';
import { SlackSender } from '../helpers/slack-client.ts';
import { inPhase, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const BOT_TOKEN = 'xoxb-test-0000-patchflow';
const SIGNING_SECRET = 'slack-signing-secret-for-tests';
const text = (call: SlackCall) => JSON.stringify(call.args['blocks'] ?? call.args['view'] ?? call.args['text']);
const cycleIdIn = (reply: Record<string, unknown>) => /cyc-\d{8}-[0-9a-f]{6}/.exec(String(reply['text']))![0];

describe('Slack', () => {
  let slack: SlackApiEmulator;
  let stack: TestStack;
  let sender: SlackSender;
  beforeAll(async () => {
    slack = await new SlackApiEmulator({ botToken: BOT_TOKEN }).start();
    stack = await startStack({
      env: {
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_CHANNEL: 'C0APPROVAL',
        SLACK_API_URL: slack.apiUrl,
      },
    });
    sender = new SlackSender(`${stack.url}/slack/events`, SIGNING_SECRET, slack);
    await upsertUser(stack.ctx.db, {
      id: 'carol',
      displayName: 'Carol',
      roles: ['coordinator'],
      slackUserId: 'UCAROL0001',
    });
    await upsertUser(stack.ctx.db, {
      id: 'alice',
      displayName: 'Alice',
      roles: ['approver'],
      slackUserId: 'UALICE0001',
    });
    await upsertUser(stack.ctx.db, { id: 'bob', displayName: 'Bob', roles: ['approver'], slackUserId: 'UBOB000001' });
  });
  afterAll(async () => {
    await stack?.stop();
    await slack?.close();
  });

  it('verifies request signatures: forged and stale requests get 401 and are audited', async () => {
    // The published example verifies against its own secret at the time it was signed…
    expect(
      slackSignatureProblem(
        signedExample.signing_secret,
        signedExample.body,
        {
          'x-slack-signature': signedExample.x_slack_signature,
          'x-slack-request-timestamp': signedExample.x_slack_request_timestamp,
        },
        Number(signedExample.x_slack_request_timestamp),
      ),
    ).toBeUndefined();
    // …and replayed today it is stale.
    const replay = await sender.post(signedExample.body, {
      timestamp: Number(signedExample.x_slack_request_timestamp),
      signature: signedExample.x_slack_signature,
    });
    expect(replay.status).toBe(401);
    const forged = await sender.post('token=x&command=%2Fpatch&text=start+demo&user_id=UCAROL0001', {
      signature: 'v0=0000000000000000000000000000000000000000000000000000000000000000',
    });
    expect(forged.status).toBe(401);
    const sixMinutesAgo = Math.floor(Date.now() / 1000) - 6 * 60;
    const stale = await sender.post('token=x&command=%2Fpatch&text=help&user_id=UCAROL0001', {
      timestamp: sixMinutesAgo,
    });
    expect(stale.status).toBe(401);
    // A flood of forged requests adds no row per request: one a minute per reason stands for them all.
    for (let i = 0; i < 20; i += 1) {
      const flood = await sender.post('token=x&command=%2Fpatch&text=help&user_id=UCAROL0001', {
        signature: `v0=${String(i).padStart(64, '0')}`,
      });
      expect(flood.status).toBe(401);
    }
    const audited = (
      (await stack.ctx.db('audit_events').where({ action: 'chat.unauthenticated' }).orderBy('seq')) as {
        data: { reason: string };
      }[]
    ).map((e) => e.data.reason);
    expect(audited).toEqual(['stale: signed more than 5 minutes ago', 'signature mismatch']);
  });

  it('answers /patch help, and refuses people it does not know', async () => {
    const help = await sender.command('UCAROL0001', 'help');
    expect(help.status).toBe(200);
    expect(help.reply).toMatchObject({
      response_type: 'ephemeral',
      text: expect.stringContaining('approvals                     changes waiting for the CAB'),
    });
    const stranger = await sender.command('USTRANGER1', 'status');
    expect(String(stranger.reply['text'])).toMatch(/^you are not a Patchflow user yet; .* --slack USTRANGER1$/);
  });

  it('posts the approval card with full context, takes Approve, Reject with a reason, Details, and updates the card in place', async () => {
    const started = await sender.command('UCAROL0001', 'start demo');
    const id = cycleIdIn(started.reply);
    const posted = await slack.waitFor(
      'chat.postMessage',
      (a) =>
        JSON.stringify(a['blocks'] ?? '').includes(id) && JSON.stringify(a['blocks']).includes('patchflow_approve'),
      { timeoutMs: 60_000 },
    );
    expect(posted.args['channel']).toBe('C0APPROVAL');
    for (const label of [
      'Requested by',
      'Scope',
      'Risk',
      'Staging',
      'Window',
      'Rollback',
      'Approvers',
      'Awaiting CAB approval: 0 of 1 approvals',
    ])
      expect(text(posted)).toContain(label);
    expect(text(posted)).toContain('staging-01');

    const before = slack.calls.length;
    const details = await sender.click('UBOB000001', 'patchflow_details', id);
    expect(details.status).toBe(200);
    const modal = await slack.waitFor('views.open', (a) => JSON.stringify(a['view']).includes('Change details'), {
      since: before,
    });
    expect(text(modal)).toContain('Top CVEs');

    const self = await sender.click('UCAROL0001', 'patchflow_approve', id);
    expect(self.status).toBe(200);
    // Told on the click's response_url, which reaches her even where the bot was never invited.
    const refusal = await slack.waitFor('response', (a) => String(a['responseId']).startsWith('click-'), {
      since: before,
    });
    expect(refusal.args).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(refusal.args['text']).toBe(
      'carol may not decide on changes: needs the approver or manager role (has coordinator)',
    );

    // The requester's Reject opens no form: she hears at once that she may not decide.
    await sender.click('UCAROL0001', 'patchflow_reject', id);
    const noForm = await slack.waitFor('response', (a) => String(a['text']).startsWith(`you may not decide on ${id}`), {
      since: before,
    });
    expect(noForm.args['text']).toMatch(/only its pending approvers may reject it$/);
    expect(
      slack.calls
        .slice(before)
        .filter((c) => c.method === 'views.open' && JSON.stringify(c.args['view']).includes('patchflow_reject_reason')),
    ).toHaveLength(0);

    await sender.click('UBOB000001', 'patchflow_reject', id);
    const rejectView = await slack.waitFor(
      'views.open',
      (a) => (a['view'] as { callback_id?: string }).callback_id === 'patchflow_reject_reason',
      { since: before },
    );
    // An empty reason is answered on the form itself, which stays open; nothing is decided.
    const empty = await sender.submitView('UBOB000001', rejectView.args['view'] as Record<string, unknown>, {
      reason: { reason_input: '   ' },
    });
    expect(await empty.json()).toEqual({
      response_action: 'errors',
      errors: { reason: 'A rejection needs a reason: it is recorded in the audit trail' },
    });
    expect(await stack.ctx.db('approvals').where({ cycle_id: id })).toHaveLength(0);
    const submitted = await sender.submitView('UBOB000001', rejectView.args['view'] as Record<string, unknown>, {
      reason: { reason_input: 'db-01 has no tested rollback' },
    });
    expect(submitted.status).toBe(200);
    const updated = await slack.waitFor(
      'chat.update',
      (a) =>
        a['ts'] === (posted.args['ts'] ?? a['ts']) && JSON.stringify(a['blocks']).includes('Bob rejected via slack'),
      { since: before },
    );
    expect(text(updated)).toContain('db-01 has no tested rollback');
    expect(text(updated)).not.toContain('patchflow_approve');
  });

  it('replaces an ephemeral card (a /patch approvals answer) with the decision once its button is clicked', async () => {
    const started = await sender.command('UCAROL0001', 'start demo');
    const id = cycleIdIn(started.reply);
    await waitForCycle(stack, id, inPhase('approval'));
    const listed = await sender.command('UALICE0001', 'approvals');
    expect(JSON.stringify(listed.reply)).toContain(id);
    const before = slack.calls.length;
    await sender.click('UALICE0001', 'patchflow_approve', id, { ephemeral: true });
    const replaced = await slack.waitFor(
      'response',
      (a) => a['replace_original'] === true && JSON.stringify(a['blocks']).includes('Alice approved via slack'),
      { since: before },
    );
    expect(JSON.stringify(replaced.args['blocks'])).not.toContain('patchflow_approve');
  });

  it('shows pending approvals and running cycles on the App Home tab', async () => {
    const started = await sender.command('UCAROL0001', 'start demo');
    const id = cycleIdIn(started.reply);
    await waitForCycle(stack, id, inPhase('approval'));
    await slack.waitFor('chat.postMessage', (a) => JSON.stringify(a['blocks'] ?? '').includes(id));
    const before = slack.calls.length;
    expect((await sender.openHome('UALICE0001')).status).toBe(200);
    const home = await slack.waitFor('views.publish', (a) => a['user_id'] === 'UALICE0001', { since: before });
    expect(text(home)).toContain('Pending approvals');
    expect(text(home)).toContain(id);
    expect(text(home)).toContain('patchflow_approve');

    await sender.click('UALICE0001', 'patchflow_approve', id, { view: true });
    const refreshed = await slack.waitFor(
      'views.publish',
      (a) => JSON.stringify(a['view']).includes(`Alice approved ${id}`),
      { since: before },
    );
    expect(text(refreshed)).toContain('Running cycles');
  });

  it('prints an app manifest whose request URLs all point at the one Slack endpoint', () => {
    const m = slackManifest({ publicUrl: 'https://patchflow.example.org', command: '/patch' });
    expect(m.features.slash_commands[0]).toMatchObject({
      command: '/patch',
      url: 'https://patchflow.example.org/slack/events',
    });
    expect(m.settings.interactivity.request_url).toBe('https://patchflow.example.org/slack/events');
    expect(m.settings.event_subscriptions).toEqual({
      request_url: 'https://patchflow.example.org/slack/events',
      bot_events: ['app_home_opened'],
    });
    expect(m.oauth_config.scopes.bot).toEqual(['chat:write', 'commands']);
  });
});
