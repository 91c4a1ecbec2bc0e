import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChangeRecordRef, ChangeStage } from '../../integrations/contract/index.ts';
import { redactConfig } from '../../integrations/contract/connector.ts';
import { serviceNowConnector } from '../../integrations/servicenow/index.ts';
import { describeChangeRecordContract, sampleChange } from '../contract/change-record.contract.ts';
import { ServiceNowEmulator } from '../emulators/servicenow.ts';
import { instantiate } from '../helpers/connectors.ts';

const credentials = { username: 'svc-patchflow', password: 'Sn0w-pa55' };
const assignmentGroup = '287ebd7da9fe198100f92cc8d1d2154e';
const stageOfState: Record<number, ChangeStage> = {
  [-5]: 'new',
  [-4]: 'assess',
  [-3]: 'authorize',
  [-2]: 'scheduled',
  [-1]: 'implement',
  0: 'review',
  3: 'closed',
  4: 'canceled',
};

function connectorFor(emu: ServiceNowEmulator, overrides: Record<string, unknown> = {}) {
  return instantiate(serviceNowConnector, {
    instanceUrl: emu.url,
    ...credentials,
    assignmentGroup,
    category: 'Software',
    requestTimeout: '5s',
    ...overrides,
  });
}

function recordOf(emu: ServiceNowEmulator, ref: ChangeRecordRef) {
  const record = emu.records.find((r) => r.fields['sys_id'] === ref['sysId']);
  if (!record) throw new Error(`no record ${JSON.stringify(ref)}`);
  return record;
}

describeChangeRecordContract('servicenow', async () => {
  const emu = await new ServiceNowEmulator(credentials).start();
  const connector = connectorFor(emu);
  return {
    changeRecord: connector.changeRecord,
    read: async (ref) => {
      const { fields, stateHistory, workNotes } = recordOf(emu, ref);
      return {
        stage: stageOfState[Number(fields['state'])]!,
        stageHistory: stateHistory.map((s) => stageOfState[s]!),
        title: fields['short_description'] ?? '',
        text: ['description', 'justification', 'implementation_plan', 'backout_plan']
          .map((f) => fields[f] ?? '')
          .join('\n'),
        // The Table API's work_notes journal is visible to agents only: internal by design.
        notes: workNotes.map((text) => ({ text, internal: true })),
      };
    },
    unknownRef: { sysId: '0'.repeat(32), number: 'CHG9999999' },
    testConnection: () => connector.testConnection(),
    testConnectionWithBadCredentials: () => connectorFor(emu, { password: 'wrong' }).testConnection(),
    failNextRequests: (status, count) => emu.failNextRequests(status, count),
    close: () => emu.close(),
  };
});

describe('servicenow connector', () => {
  let emu: ServiceNowEmulator;
  beforeEach(async () => {
    emu = await new ServiceNowEmulator({ ...credentials, oauthToken: 'oauth-access-token-123' }).start();
  });
  afterEach(() => emu.close());

  it('opens a change_request with the documented fields: type, plans, risk, window, assignment group, correlation', async () => {
    const change = sampleChange('authorize');
    const ref = await connectorFor(emu).changeRecord.open(change);
    const { fields } = recordOf(emu, ref);
    expect(ref).toEqual({ sysId: fields['sys_id'], number: expect.stringMatching(/^CHG\d{7}$/) });
    expect(fields).toMatchObject({
      type: 'normal',
      state: '-5',
      short_description: change.title,
      backout_plan: change.backoutPlan,
      implementation_plan: change.implementationPlan,
      justification: change.justification,
      risk: '2',
      start_date: '2025-03-01 22:00:00',
      end_date: '2025-03-02 02:00:00',
      assignment_group: assignmentGroup,
      category: 'Software',
      correlation_id: change.cycleId,
      correlation_display: 'Patchflow',
    });
    const emergency = await connectorFor(emu).changeRecord.open(
      sampleChange('authorize', { emergency: true, window: null }),
    );
    expect(recordOf(emu, emergency).fields).toMatchObject({ type: 'emergency' });
    expect(recordOf(emu, emergency).fields['start_date']).toBeUndefined();
  });

  it('walks a normal change through Assess and an emergency change without it, one PATCH per state', async () => {
    const connector = connectorFor(emu);
    const normal = await connector.changeRecord.open(sampleChange('authorize'));
    await connector.changeRecord.update(normal, sampleChange('implement', { decision: 'approved' }));
    expect(recordOf(emu, normal).stateHistory).toEqual([-5, -4, -3, -2, -1]);
    expect(recordOf(emu, normal).fields['approval']).toBe('approved');
    const statePatches = emu.requests
      .filter((r) => r.method === 'PATCH' && typeof r.body === 'object' && r.body !== null && 'state' in r.body)
      .map((r) => (r.body as { state: string }).state);
    expect(statePatches).toEqual(['-4', '-3', '-2', '-1']);

    const emergency = await connector.changeRecord.open(sampleChange('authorize', { emergency: true }));
    await connector.changeRecord.update(
      emergency,
      sampleChange('implement', { emergency: true, decision: 'approved' }),
    );
    expect(recordOf(emu, emergency).stateHistory).toEqual([-5, -3, -2, -1]);
  });

  it('closes with the close code and notes, which the state model requires', async () => {
    const connector = connectorFor(emu);
    const ref = await connector.changeRecord.open(sampleChange('authorize'));
    await connector.changeRecord.update(
      ref,
      sampleChange('closed', {
        decision: 'approved',
        closure: { code: 'successful_with_issues', notes: 'Completed with failures: 1 host unreachable' },
      }),
    );
    expect(recordOf(emu, ref).fields).toMatchObject({
      state: '3',
      close_code: 'successful_issues',
      close_notes: 'Completed with failures: 1 host unreachable',
    });
  });

  it('adds evidence as work notes, which read back empty as journal fields do', async () => {
    const connector = connectorFor(emu);
    const ref = await connector.changeRecord.open(sampleChange('authorize'));
    await connector.changeRecord.addEvidence(ref, {
      key: 'verification',
      title: 'Verification',
      lines: ['4 of 4 patched host(s) verified at the target state, 0 not'],
    });
    expect(recordOf(emu, ref).workNotes).toEqual([
      '[Patchflow] Verification\n4 of 4 patched host(s) verified at the target state, 0 not',
    ]);
    expect(recordOf(emu, ref).fields['work_notes']).toBe('');
  });

  it('authenticates with an OAuth bearer token instead of a password', async () => {
    const connector = connectorFor(emu, {
      username: undefined,
      password: undefined,
      oauthToken: 'oauth-access-token-123',
    });
    expect((await connector.testConnection()).ok).toBe(true);
    const denied = await connectorFor(emu, {
      username: undefined,
      password: undefined,
      oauthToken: 'expired',
    }).testConnection();
    expect(denied).toMatchObject({
      ok: false,
      message: expect.stringContaining('User Not Authenticated: Required to provide Auth information'),
    });
  });

  it("words refusals with the Table API's own message and detail", async () => {
    const err = (await await connectorFor(emu)
      .changeRecord.update({ sysId: 'f'.repeat(32), number: 'CHG0000001' }, sampleChange('implement'))
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toContain("No Record found: Record doesn't exist or ACL restricts the record retrieval");
  });

  it('names each wrong setting, and redacts the password and the token', () => {
    const parse = (raw: Record<string, unknown>) =>
      serviceNowConnector.configSchema.safeParse({
        instanceUrl: 'https://acme.service-now.com',
        ...credentials,
        assignmentGroup,
        ...raw,
      });
    const problems = (raw: Record<string, unknown>) => {
      const result = parse(raw);
      return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems({ instanceUrl: undefined })).toEqual([
      'instanceUrl: the instance URL (SERVICENOW_INSTANCE_URL), e.g. https://acme.service-now.com',
    ]);
    expect(problems({ assignmentGroup: 'CAB' })).toEqual([
      'assignmentGroup: the sys_id of a group (SERVICENOW_ASSIGNMENT_GROUP): 32 hexadecimal characters',
    ]);
    expect(problems({ oauthToken: 't' })).toEqual([
      'oauthToken: set either username and password or oauthToken, not both',
    ]);
    expect(problems({ username: undefined, password: undefined })).toEqual([
      expect.stringMatching(/^password: set username and password/),
    ]);
    expect(problems({ password: undefined })).toEqual([
      expect.stringMatching(/^password: Basic auth needs a password/),
    ]);
    const parsed = parse({ username: undefined, password: undefined, oauthToken: 'secret-token' });
    expect(redactConfig(serviceNowConnector.configSchema, parsed.data)).toMatchObject({ oauthToken: '***' });
    expect(redactConfig(serviceNowConnector.configSchema, parse({}).data)).toMatchObject({
      username: 'svc-patchflow',
      password: '***',
    });
  });
});
