import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertUser } from '../../db/repositories/users.ts';
import { BotConnectorEmulator } from '../emulators/bot-connector.ts';
import { TeamsSender, type TeamsUser } from '../helpers/teams-client.ts';
import { launchChromium } from '../helpers/browser.ts';
import { TeamsHostPage } from '../helpers/teams-host.ts';
import { startDemoCycle } from '../helpers/stack.ts';
import { inPhase, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const APP = {
  appId: '9a3c2b1e-5f4d-4c6b-8a7e-1d2f3a4b5c6d',
  appPassword: 'teams-app-secret-for-tests',
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
};
const CHANNEL = '19:patch-approvals@thread.tacv2';
const APP_ID_URI = `api://patchflow.example.org/${APP.appId}`;
const carol: TeamsUser = { aadObjectId: 'c0c0c0c0-0000-4000-8000-000000000001', name: 'Carol' };
const alice: TeamsUser = { aadObjectId: 'a1a1a1a1-0000-4000-8000-000000000002', name: 'Alice' };
const bob: TeamsUser = { aadObjectId: 'b0b0b0b0-0000-4000-8000-000000000003', name: 'Bob' };
const cardOf = (a: Record<string, unknown>) => JSON.stringify(a['attachments'] ?? a);

describe('Microsoft Teams', () => {
  let connector: BotConnectorEmulator;
  let stack: TestStack;
  let teams: TeamsSender;
  let host: TeamsHostPage;
  beforeAll(async () => {
    connector = await new BotConnectorEmulator(APP).start();
    host = await new TeamsHostPage().start();
    stack = await startStack({
      env: {
        TEAMS_APP_ID: APP.appId,
        TEAMS_APP_PASSWORD: APP.appPassword,
        TEAMS_TENANT_ID: APP.tenantId,
        TEAMS_CHANNEL_ID: CHANNEL,
        TEAMS_SERVICE_URL: connector.url,
        TEAMS_LOGIN_URL: connector.url,
        TEAMS_BOT_OPENID_METADATA_URL: connector.openIdMetadataUrl,
        TEAMS_APPLICATION_ID_URI: APP_ID_URI,
        TEAMS_TAB_VALID_ORIGINS: host.url,
      },
    });
    teams = new TeamsSender(`${stack.url}/teams/messages`, connector, { ...APP, channelId: CHANNEL });
    await upsertUser(stack.ctx.db, {
      id: 'carol',
      displayName: 'Carol',
      roles: ['coordinator'],
      teamsAadId: carol.aadObjectId,
    });
    await upsertUser(stack.ctx.db, {
      id: 'alice',
      displayName: 'Alice',
      roles: ['approver'],
      teamsAadId: alice.aadObjectId,
    });
    await upsertUser(stack.ctx.db, { id: 'bob', displayName: 'Bob', roles: ['approver'], teamsAadId: bob.aadObjectId });
  });
  afterAll(async () => {
    await stack?.stop();
    await connector?.close();
    await host?.close();
  });

  it('validates inbound tokens: missing, foreign-signed, expired and wrong-audience tokens get 401 and are audited', async () => {
    const before = (await stack.ctx.db('audit_events').where({ action: 'chat.unauthenticated' })).length;
    const activity = {
      type: 'message',
      text: 'approvals',
      serviceUrl: connector.url,
      from: { id: '29:x', aadObjectId: carol.aadObjectId },
      conversation: { id: CHANNEL },
      recipient: { id: `28:${APP.appId}` },
      channelId: 'msteams',
      id: '1',
    };
    expect((await teams.post(activity, null)).status).toBe(401);
    expect(
      (await teams.post(activity, connector.botToken({ signWith: BotConnectorEmulator.foreignKey() }))).status,
    ).toBe(401);
    expect((await teams.post(activity, connector.botToken({ expiresInSeconds: -3600 }))).status).toBe(401);
    expect(
      (await teams.post(activity, connector.botToken({ audience: '00000000-0000-4000-8000-000000000000' }))).status,
    ).toBe(401);
    expect((await teams.post(activity, connector.botToken({ serviceUrl: 'https://attacker.example' }))).status).toBe(
      401,
    );
    const audited = (await stack.ctx
      .db('audit_events')
      .where({ action: 'chat.unauthenticated', actor: 'teams:unauthenticated' })) as unknown[];
    // Five refusals, two reasons (no token; a token that is not valid): one row a minute per reason.
    expect(audited.length - before).toBe(2);
    expect(connector.sent).toHaveLength(0);
  });

  it('refuses activities from another organisation’s tenant, signed though they are, and audits them', async () => {
    const foreign = new TeamsSender(`${stack.url}/teams/messages`, connector, {
      ...APP,
      tenantId: 'f0f0f0f0-0000-4000-8000-00000000f0f0',
      channelId: CHANNEL,
    });
    const since = connector.sent.length;
    expect((await foreign.message(carol, 'approvals')).status).toBe(200);
    await connector.waitFor(
      (s) => String(s.activity['text']).startsWith('This Patchflow serves only its own organisation'),
      { since },
    );
    const invoked = await foreign.invoke(alice, 'approve', { cycleId: 'cyc-20261203-000000' });
    expect(JSON.stringify(invoked.body)).toContain('This Patchflow serves only its own organisation');
    const audited = await stack.ctx
      .db('audit_events')
      .where({ action: 'chat.unauthenticated' })
      .orderBy('seq', 'desc')
      .first();
    expect(audited.data.reason).toBe(
      `activity from tenant f0f0f0f0-0000-4000-8000-00000000f0f0, not the configured tenant ${APP.tenantId}`,
    );
  });

  it('answers bot commands, and refuses people it does not know', async () => {
    const since = connector.sent.length;
    expect((await teams.message(carol, 'help')).status).toBe(200);
    const help = await connector.waitFor(
      (s) => s.kind === 'send' && String(s.activity['text']).includes('Patchflow commands'),
      { since },
    );
    expect(help.conversationId).toBe(CHANNEL);
    await teams.message({ aadObjectId: 'ffffffff-0000-4000-8000-00000000000f', name: 'Mallory' }, 'approvals');
    await connector.waitFor((s) => String(s.activity['text']).startsWith('you are not a Patchflow user yet'), {
      since,
    });
  });

  it('posts the approval card to the channel; Action.Execute approve, reject with a reason and refresh answer with the card as each person should see it', async () => {
    const since = connector.sent.length;
    await teams.message(carol, 'start demo');
    const started = await connector.waitFor((s) => /^started cyc-/.test(String(s.activity['text'])), { since });
    const id = /cyc-\d{8}-[0-9a-f]{6}/.exec(String(started.activity['text']))![0];
    const card = await connector.waitFor(
      (s) =>
        s.kind === 'send' &&
        s.conversationId === CHANNEL &&
        cardOf(s.activity).includes(id) &&
        cardOf(s.activity).includes('"verb":"approve"'),
      { since, timeoutMs: 60_000 },
    );
    // Teams refreshes the card by itself for those who may still decide, named by MRI.
    const refresh = (JSON.parse(cardOf(card.activity)) as { content: { refresh: { userIds: string[] } } }[])[0]!.content
      .refresh;
    expect(refresh.userIds).toEqual([`8:orgid:${alice.aadObjectId}`, `8:orgid:${bob.aadObjectId}`]);
    for (const label of [
      'Requested by',
      'Scope',
      'Risk',
      'Staging',
      'Window',
      'Rollback',
      '"refresh"',
      'Action.Execute',
    ])
      expect(cardOf(card.activity)).toContain(label);

    const asCarol = await teams.invoke(carol, 'refresh', { cycleId: id });
    expect(asCarol.status).toBe(200);
    expect(asCarol.body).toMatchObject({ statusCode: 200, type: 'application/vnd.microsoft.card.adaptive' });
    expect(JSON.stringify(asCarol.body)).not.toContain('"verb":"approve"');
    const asBob = await teams.invoke(bob, 'refresh', { cycleId: id });
    expect(JSON.stringify(asBob.body)).toContain('"verb":"approve"');

    const details = await teams.invoke(bob, 'details', { cycleId: id });
    expect(JSON.stringify(details.body)).toContain('Top CVEs');

    const noReason = await teams.invoke(bob, 'reject', { cycleId: id, reason: '  ' });
    expect(JSON.stringify(noReason.body)).toContain('a rejection needs a reason');
    const rejected = await teams.invoke(bob, 'reject', { cycleId: id, reason: 'db-01 has no tested rollback' });
    expect(rejected.status).toBe(200);
    expect(JSON.stringify(rejected.body)).toContain('Bob rejected via teams');
    expect(JSON.stringify(rejected.body)).not.toContain('"verb":"approve"');
    const updated = await connector.waitFor(
      (s) =>
        s.kind === 'update' &&
        s.activityId === card.activityId &&
        cardOf(s.activity).includes('db-01 has no tested rollback'),
      { since },
    );
    expect(updated.conversationId).toBe(CHANNEL);
  });

  it('approves from the card and refuses the requester with the reason on the card', async () => {
    const since = connector.sent.length;
    await teams.message(carol, 'start demo');
    const started = await connector.waitFor((s) => /^started cyc-/.test(String(s.activity['text'])), { since });
    const id = /cyc-\d{8}-[0-9a-f]{6}/.exec(String(started.activity['text']))![0];
    await waitForCycle(stack, id, inPhase('approval'));
    const refused = await teams.invoke(carol, 'approve', { cycleId: id });
    expect(JSON.stringify(refused.body)).toContain('carol may not decide on changes');
    const approved = await teams.invoke(alice, 'approve', { cycleId: id });
    expect(JSON.stringify(approved.body)).toContain(`Alice approved ${id}: approved`);
    expect(JSON.stringify(approved.body)).toContain('Alice approved via teams');
  });

  it('the tab shows pending approvals and running cycles to the signed-in person, in headless Chromium', async () => {
    const id = await startDemoCycle(stack);
    await waitForCycle(stack, id, inPhase('approval'));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const tab = `${stack.url}/teams/tab/`;
      await page.goto(
        host.pageFor(tab, {
          oid: alice.aadObjectId,
          token: connector.tabToken({ oid: alice.aadObjectId, audience: APP_ID_URI }),
        }),
      );
      const frame = page.frameLocator('#tab');
      await frame.locator(`#pending article[data-cycle-id="${id}"]`).waitFor({ timeout: 20_000 });
      const card = frame.locator(`#pending article[data-cycle-id="${id}"]`);
      expect(await card.locator('.status').textContent()).toMatch(/^Awaiting CAB approval: 0 of 1 approvals/);
      expect(await card.locator('dl').textContent()).toContain('Rollback');
      expect(await frame.locator('#who').textContent()).toBe('alice@contoso.example');
      expect(await frame.locator('body').getAttribute('data-theme')).toBe('dark');

      const stranger = 'ffffffff-0000-4000-8000-00000000000f';
      await page.goto(
        host.pageFor(tab, { oid: stranger, token: connector.tabToken({ oid: stranger, audience: APP_ID_URI }) }),
      );
      await page.frameLocator('#tab').locator('#status.error').waitFor({ timeout: 20_000 });
      expect(await page.frameLocator('#tab').locator('#status').textContent()).toMatch(
        /^you are not a Patchflow user yet/,
      );

      const before = (await stack.ctx.db('audit_events').where({ action: 'chat.unauthenticated' })).length;
      await page.goto(
        host.pageFor(tab, {
          oid: alice.aadObjectId,
          token: connector.tabToken({
            oid: alice.aadObjectId,
            audience: APP_ID_URI,
            tenantId: '00000000-0000-4000-8000-0000000000aa',
          }),
        }),
      );
      await page.frameLocator('#tab').locator('#status.error').waitFor({ timeout: 20_000 });
      expect(await page.frameLocator('#tab').locator('#status').textContent()).toBe(
        'a valid Teams SSO token is required',
      );
      expect((await stack.ctx.db('audit_events').where({ action: 'chat.unauthenticated' })).length).toBe(before + 1);
    } finally {
      await browser.close();
    }
  });
});
