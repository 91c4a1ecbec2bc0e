import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorChangeRecords } from '../../app/publish/itsm.ts';
import { configureRegistry } from '../../runtime/context.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { changeRecords } from '../../db/repositories/change-records.ts';
import { createLogger } from '../../kernel/logger.ts';
import type { ChangeRequest } from '../../workflows/approval-types.ts';
import { defaultChangeTransitions, JiraSmEmulator } from '../emulators/jira-sm.ts';
import { ServiceNowEmulator } from '../emulators/servicenow.ts';
import { api, finished, inPhase, startDemoCycle, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

const serviceNowUser = { username: 'svc-patchflow', password: 'Sn0w-pa55' };
const jiraAccount = { email: 'patchflow@acme.example', apiToken: 'ATATT3xFfGF0-test-token' };
const assignmentGroup = '287ebd7da9fe198100f92cc8d1d2154e';
/** A real cycle runs ansible-playbook against five hosts twice (staging, then the rings). */
const cycleTimeoutMs = 240_000;

/** The ITSM settings as an operator sets them: environment variables only. */
function itsmEnv(serviceNow: ServiceNowEmulator, jira: JiraSmEmulator): Record<string, string> {
  return {
    SERVICENOW_INSTANCE_URL: serviceNow.url,
    SERVICENOW_USERNAME: serviceNowUser.username,
    SERVICENOW_PASSWORD: serviceNowUser.password,
    SERVICENOW_ASSIGNMENT_GROUP: assignmentGroup,
    SERVICENOW_REQUEST_TIMEOUT: '5s',
    JIRA_SM_SITE_URL: jira.url,
    JIRA_SM_EMAIL: jiraAccount.email,
    JIRA_SM_API_TOKEN: jiraAccount.apiToken,
    JIRA_SM_SERVICE_DESK_ID: '4',
    JIRA_SM_REQUEST_TYPE_ID: '10',
    JIRA_SM_REQUEST_TIMEOUT: '5s',
    ...Object.fromEntries(
      Object.entries(defaultChangeTransitions).map(([stage, name]) => [
        `JIRA_SM_TRANSITION_${stage.toUpperCase()}`,
        name,
      ]),
    ),
  };
}

describe('ITSM mirror: ServiceNow and Jira Service Management follow a real cycle', () => {
  let serviceNow: ServiceNowEmulator;
  let jira: JiraSmEmulator;
  let stack: TestStack;
  const jiraIssueOf = async (cycleId: string) => {
    const row = (await changeRecords(stack.ctx.db, cycleId)).find((r) => r.connector === 'jira-sm');
    return row ? jira.issue(row.ref['issueKey'] ?? '') : undefined;
  };

  beforeAll(async () => {
    serviceNow = await new ServiceNowEmulator(serviceNowUser).start();
    jira = await new JiraSmEmulator(jiraAccount).start();
    stack = await startStack({ env: itsmEnv(serviceNow, jira) });
  });
  afterAll(async () => {
    await stack?.stop();
    await serviceNow?.close();
    await jira?.close();
  });

  it('patchflow connectors list shows both, with their role and their secrets redacted', async () => {
    const { body } = await api<{
      connectors: { id: string; capabilities: string[]; config: Record<string, unknown> }[];
    }>(stack, 'GET', '/api/connectors');
    const itsm = body.connectors.filter((c) => c.capabilities.includes('changeRecord'));
    expect(itsm.map((c) => c.id)).toEqual(['servicenow', 'jira-sm']);
    expect(itsm[0]!.config).toMatchObject({
      instanceUrl: serviceNow.url,
      username: 'svc-patchflow',
      password: '***',
      assignmentGroup,
    });
    expect(itsm[1]!.config).toMatchObject({
      email: jiraAccount.email,
      apiToken: '***',
      transitions: defaultChangeTransitions,
    });
    expect(JSON.stringify(body)).not.toContain(serviceNowUser.password);
  });

  it(
    'opens the change when the CAB is asked, walks it New → … → Implement → Review → Closed, and posts the evidence once',
    async () => {
      const id = await startDemoCycle(stack);
      await waitForCycle(stack, id, inPhase('approval'), 180_000);
      await expect.poll(() => serviceNow.recordFor(id)?.fields['state'], { timeout: 30_000 }).toBe('-3');
      await expect.poll(async () => (await jiraIssueOf(id))?.status, { timeout: 30_000 }).toBe('Awaiting CAB approval');

      expect(
        (await api(stack, 'POST', `/api/cycles/${id}/approve`, { comment: 'rollback plan reviewed' }, 'alice')).status,
      ).toBe(200);
      const done = await waitForCycle(stack, id, finished, 180_000);
      expect(done.cycle.status).toBe('completed');
      // The cycle records its end before the mirror runs in the same activity.
      await expect.poll(() => serviceNow.recordFor(id)?.fields['state'], { timeout: 30_000 }).toBe('3');
      await expect.poll(async () => (await jiraIssueOf(id))?.status, { timeout: 30_000 }).toBe('Completed');

      const change = (
        (await stack.ctx.db('change_requests').where({ cycle_id: id }).first()) as { request: ChangeRequest }
      ).request;
      const record = serviceNow.recordFor(id)!;
      expect(record.stateHistory).toEqual([-5, -4, -3, -2, -1, 0, 3]);
      expect(record.fields).toMatchObject({
        type: 'normal',
        backout_plan: change.rollbackPlan,
        approval: 'approved',
        close_code: 'successful',
        assignment_group: assignmentGroup,
      });
      expect(record.fields['close_notes']).toMatch(/^Completed/);
      expect(record.fields['description']).toContain('Alice (CAB approver) approved via rest');

      const titles = (notes: string[]) => notes.map((n) => n.split('\n')[0]);
      const evidence = [
        'Test on the staging group',
        'CAB approval',
        'Deployment to ring pilot',
        'Deployment to ring broad',
        'Deployment to ring critical',
        'Verification',
        'Outcome',
      ].map((t) => `[Patchflow] ${t}`);
      expect(titles(record.workNotes)).toEqual(evidence);
      expect(record.workNotes.join('\n')).toContain('staging: 1/1 done: 1 patched');
      expect(record.workNotes.join('\n')).toContain('Alice (CAB approver) approved via rest');
      expect(record.workNotes.join('\n')).toContain('5 of 5 patched host(s) verified at the target state, 0 not');

      const issue = (await jiraIssueOf(id))!;
      expect(issue.statusHistory).toEqual([
        'Open',
        'Awaiting CAB approval',
        'Awaiting implementation',
        'Implementing',
        'Review',
        'Completed',
      ]);
      expect(titles(issue.comments.map((c) => c.body))).toEqual(evidence);
      expect(issue.comments.every((c) => !c.public)).toBe(true);

      // One record per tool, however often the cycle refreshed it; a retried refresh opens nothing and repeats nothing.
      const opened = () => [
        serviceNow.records.filter((r) => r.fields['correlation_id'] === id).length,
        jira.issues.filter((i) => i.summary.includes(id)).length,
      ];
      expect(opened()).toEqual([1, 1]);
      await Promise.all([mirrorChangeRecords(stack.ctx, id), mirrorChangeRecords(stack.ctx, id)]);
      expect(opened()).toEqual([1, 1]);
      expect(record.workNotes).toHaveLength(evidence.length);
      expect((await changeRecords(stack.ctx.db, id)).map((r) => [r.connector, r.evidence.length]).sort()).toEqual([
        ['jira-sm', 7],
        ['servicenow', 7],
      ]);
    },
    cycleTimeoutMs,
  );

  it(
    'a ServiceNow answering 500 is logged and skipped: the cycle completes and Jira still follows it',
    async () => {
      serviceNow.failNextRequests(500, 100_000);
      try {
        const id = await startDemoCycle(stack);
        await waitForCycle(stack, id, inPhase('approval'), 180_000);
        await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'bob');
        expect((await waitForCycle(stack, id, finished, 180_000)).cycle.status).toBe('completed');
        await expect.poll(async () => (await jiraIssueOf(id))?.status, { timeout: 30_000 }).toBe('Completed');
        expect(serviceNow.recordFor(id)).toBeUndefined();
        expect((await changeRecords(stack.ctx.db, id)).map((r) => r.connector)).toEqual(['jira-sm']);
      } finally {
        serviceNow.failNextRequests(500, 0);
      }
    },
    cycleTimeoutMs,
  );
});

describe('ITSM settings', () => {
  const registryFor = (env: Record<string, string>) =>
    configureRegistry(
      loadSettings({ PATCHFLOW_DATA_DIR: '/tmp/patchflow-itsm-settings', ...env }),
      createLogger({}, 'error'),
    );

  it('without ITSM variables no change record is kept, and nothing complains', () => {
    expect(registryFor({}).allInRole('changeRecord')).toEqual([]);
  });

  it('a ServiceNow setting without the instance URL stops start-up, naming the field', () => {
    expect(() =>
      registryFor({
        SERVICENOW_USERNAME: 'svc',
        SERVICENOW_PASSWORD: 'p',
        SERVICENOW_ASSIGNMENT_GROUP: assignmentGroup,
      }),
    ).toThrow(
      'invalid settings for connector servicenow: connectors.servicenow.instanceUrl: the instance URL (SERVICENOW_INSTANCE_URL), e.g. https://acme.service-now.com',
    );
    expect(() =>
      registryFor({
        JIRA_SM_SITE_URL: 'https://acme.atlassian.net',
        JIRA_SM_EMAIL: 'a@acme.example',
        JIRA_SM_API_TOKEN: 't',
        JIRA_SM_SERVICE_DESK_ID: '4',
        JIRA_SM_REQUEST_TYPE_ID: '10',
      }),
    ).toThrow(
      /connectors\.jira-sm\.transitions: the workflow transition into each stage \(JIRA_SM_TRANSITION_<STAGE>\)/,
    );
  });
});
