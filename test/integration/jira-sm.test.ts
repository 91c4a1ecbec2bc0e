import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChangeRecordRef, ChangeStage } from '../../integrations/contract/index.ts';
import { redactConfig } from '../../integrations/contract/connector.ts';
import { ConflictError } from '../../kernel/errors.ts';
import { jiraSmConnector } from '../../integrations/jira-sm/index.ts';
import { describeChangeRecordContract, sampleChange } from '../contract/change-record.contract.ts';
import { defaultChangeTransitions, documentText, JiraSmEmulator } from '../emulators/jira-sm.ts';
import { instantiate } from '../helpers/connectors.ts';

const account = { email: 'patchflow@acme.example', apiToken: 'ATATT3xFfGF0-test-token' };
const stageOfStatus: Record<string, ChangeStage> = {
  Open: 'new',
  'Awaiting CAB approval': 'authorize',
  'Awaiting implementation': 'scheduled',
  Implementing: 'implement',
  Review: 'review',
  Completed: 'closed',
  Failed: 'closed',
  Canceled: 'canceled',
  Declined: 'canceled',
};

function connectorFor(emu: JiraSmEmulator, overrides: Record<string, unknown> = {}) {
  return instantiate(jiraSmConnector, {
    siteUrl: emu.url,
    ...account,
    serviceDeskId: '4',
    requestTypeId: '10',
    transitions: defaultChangeTransitions,
    requestTimeout: '5s',
    ...overrides,
  });
}

function issueOf(emu: JiraSmEmulator, ref: ChangeRecordRef) {
  const issue = emu.issue(ref['issueKey'] ?? '');
  if (!issue) throw new Error(`no issue ${JSON.stringify(ref)}`);
  return issue;
}

describeChangeRecordContract('jira-sm', async () => {
  const emu = await new JiraSmEmulator(account).start();
  const connector = connectorFor(emu);
  return {
    changeRecord: connector.changeRecord,
    read: async (ref) => {
      const issue = issueOf(emu, ref);
      return {
        stage: stageOfStatus[issue.status]!,
        stageHistory: issue.statusHistory.map((s) => stageOfStatus[s]!),
        title: issue.summary,
        text: documentText(issue.description),
        notes: issue.comments.map((c) => ({ text: c.body, internal: !c.public })),
      };
    },
    unknownRef: { issueKey: 'ITSM-999', issueId: '99999' },
    testConnection: () => connector.testConnection(),
    testConnectionWithBadCredentials: () => connectorFor(emu, { apiToken: 'revoked' }).testConnection(),
    failNextRequests: (status, count) => emu.failNextRequests(status, count),
    close: () => emu.close(),
  };
});

describe('jira-sm connector', () => {
  let emu: JiraSmEmulator;
  beforeEach(async () => {
    emu = await new JiraSmEmulator(account).start();
  });
  afterEach(() => emu.close());

  it('raises the change through the service management API and edits it with an Atlassian Document', async () => {
    const connector = connectorFor(emu);
    const change = sampleChange('authorize');
    const ref = await connector.changeRecord.open(change);
    expect(ref).toEqual({ issueKey: 'ITSM-1', issueId: expect.any(String) });
    const created = emu.requests.find((r) => r.path === '/rest/servicedeskapi/request');
    expect(created?.body).toMatchObject({
      serviceDeskId: '4',
      requestTypeId: '10',
      requestFieldValues: {
        summary: change.title,
        description: expect.stringContaining(`Backout plan:\n${change.backoutPlan}`),
      },
    });
    await connector.changeRecord.update(ref, sampleChange('authorize', { title: change.title }));
    const issue = issueOf(emu, ref);
    expect(issue.description).toMatchObject({ type: 'doc', version: 1 });
    expect(documentText(issue.description)).toContain(
      'Maintenance window: 2025-03-01 22:00 UTC to 2025-03-02 02:00 UTC',
    );
  });

  it('closes an unsuccessful change with the failed transition, and keeps its stage in an issue property', async () => {
    const connector = connectorFor(emu);
    const ref = await connector.changeRecord.open(sampleChange('authorize'));
    await connector.changeRecord.update(
      ref,
      sampleChange('closed', {
        decision: 'approved',
        closure: { code: 'unsuccessful', notes: 'Halted: ring pilot failed' },
      }),
    );
    const issue = issueOf(emu, ref);
    expect(issue.statusHistory).toEqual([
      'Open',
      'Awaiting CAB approval',
      'Awaiting implementation',
      'Implementing',
      'Review',
      'Failed',
    ]);
    expect(issue.properties.get('patchflow-change')).toEqual({ stage: 'closed' });
  });

  it('skips stages that have no transition configured', async () => {
    const connector = connectorFor(emu, { transitions: { implement: 'Request approval', closed: 'Approve' } });
    const ref = await connector.changeRecord.open(sampleChange('authorize'));
    await connector.changeRecord.update(ref, sampleChange('closed', { decision: 'approved' }));
    expect(issueOf(emu, ref).statusHistory).toEqual(['Open', 'Awaiting CAB approval', 'Awaiting implementation']);
  });

  it('names a transition the workflow does not offer, with the ones it does', async () => {
    const connector = connectorFor(emu, { transitions: { ...defaultChangeTransitions, authorize: 'Submit for CAB' } });
    const ref = await connector.changeRecord.open(sampleChange('authorize'));
    const err = (await await connector.changeRecord
      .update(ref, sampleChange('authorize'))
      .catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toBe(
      'Jira ITSM-1: its status offers no transition "Submit for CAB" (connectors.jira-sm.transitions.authorize, for Patchflow stage authorize); it offers "Request approval", "Cancel"',
    );
  });

  it('posts evidence as internal comments', async () => {
    const connector = connectorFor(emu);
    const ref = await connector.changeRecord.open(sampleChange('authorize'));
    await connector.changeRecord.addEvidence(ref, {
      key: 'deployment:pilot',
      title: 'Deployment to ring pilot',
      lines: ['pilot: 2/2 done: 2 patched, 0 already compliant'],
    });
    expect(emu.requests.at(-1)).toMatchObject({
      path: '/rest/servicedeskapi/request/ITSM-1/comment',
      body: { public: false },
    });
    expect(issueOf(emu, ref).comments).toEqual([
      {
        id: expect.any(String),
        body: '[Patchflow] Deployment to ring pilot\npilot: 2/2 done: 2 patched, 0 already compliant',
        public: false,
      },
    ]);
  });

  it('tests the connection against the service desk and the request type, naming what is wrong', async () => {
    expect(await connectorFor(emu).testConnection()).toEqual({
      ok: true,
      message: `Jira Service Management project ITSM (IT Service Management) at ${emu.url}; changes are raised as "Request a change"`,
    });
    const wrongType = await connectorFor(emu, { requestTypeId: '99' }).testConnection();
    expect(wrongType).toMatchObject({
      ok: false,
      message: expect.stringContaining('The request type 99 does not exist in service desk 4.'),
    });
    const denied = await connectorFor(emu, { apiToken: 'revoked' }).testConnection();
    expect(denied.message).toContain('Client must be authenticated to access this resource.');
  });

  it('names each wrong setting, and redacts the API token', () => {
    const raw = {
      siteUrl: 'https://acme.atlassian.net',
      ...account,
      serviceDeskId: 4,
      requestTypeId: '10',
      transitions: { closed: 'Complete' },
    };
    const problems = (extra: Record<string, unknown>) => {
      const result = jiraSmConnector.configSchema.safeParse({ ...raw, ...extra });
      return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems({})).toEqual([]);
    expect(problems({ siteUrl: undefined })).toEqual([
      'siteUrl: the Jira site URL (JIRA_SM_SITE_URL), e.g. https://acme.atlassian.net',
    ]);
    expect(problems({ transitions: {} })).toEqual([
      expect.stringMatching(/^transitions: name at least one workflow transition/),
    ]);
    expect(problems({ transitions: { done: 'Complete' } })).toContain('transitions: Unrecognized key: "done"');
    expect(problems({ serviceDeskId: 'ITSM' })).toEqual([
      'serviceDeskId: the numeric service desk id (JIRA_SM_SERVICE_DESK_ID), e.g. 4',
    ]);
    expect(redactConfig(jiraSmConnector.configSchema, jiraSmConnector.configSchema.parse(raw))).toMatchObject({
      email: account.email,
      apiToken: '***',
      serviceDeskId: '4',
    });
  });
});
