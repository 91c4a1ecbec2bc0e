import { z } from 'zod';
import type { ChangeClosure, ChangeRecordContent, ChangeRecordRef, ChangeStage } from '../contract/index.ts';
import { basicAuth } from '../kit/support/http.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { UpstreamError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { evidenceText, stageOrder, stagesToward } from '../kit/itsm/change-record.ts';
import { ChangeRequestTable } from './client.ts';
import { serviceNowConfigSchema, type ServiceNowConfig } from './config.ts';

/** change_request.state values of the change state model. */
const stateValue: Record<ChangeStage, number> = {
  new: -5,
  assess: -4,
  authorize: -3,
  scheduled: -2,
  implement: -1,
  review: 0,
  closed: 3,
  canceled: 4,
};
const stageOfState = new Map(Object.entries(stateValue).map(([stage, value]) => [value, stage as ChangeStage]));

/** A normal change passes through every state of the model; an emergency change skips Assess. */
const emergencyPath = stageOrder.filter((s) => s !== 'assess');

const riskValue: Record<ChangeRecordContent['risk'], string> = { high: '2', moderate: '3', low: '4' };
const closeCode: Record<ChangeClosure, string> = {
  successful: 'successful',
  successful_with_issues: 'successful_issues',
  unsuccessful: 'unsuccessful',
};

const refSchema = z.object({ sysId: z.string().regex(/^[0-9a-f]{32}$/), number: z.string() });

/** The Table API takes date-times as `yyyy-MM-dd HH:mm:ss` in UTC. */
const glideDateTime = (iso: string) => new Date(iso).toISOString().slice(0, 19).replace('T', ' ');

/** The fields Patchflow owns on the record, written on opening and on every refresh. */
function recordFields(change: ChangeRecordContent): Record<string, string> {
  return {
    // short_description holds 160 characters.
    short_description: change.title.slice(0, 160),
    description: change.description,
    justification: change.justification,
    implementation_plan: change.implementationPlan,
    backout_plan: change.backoutPlan,
    risk: riskValue[change.risk],
    ...(change.window
      ? { start_date: glideDateTime(change.window.start), end_date: glideDateTime(change.window.end) }
      : {}),
    ...(change.decision ? { approval: change.decision } : {}),
  };
}

export const serviceNowConnector = defineConnector({
  id: 'servicenow',
  title: 'ServiceNow change requests (Table API)',
  configSchema: serviceNowConfigSchema,
  capabilities: { changeRecord: true },
  env: { prefix: 'SERVICENOW' },
  create(config: ServiceNowConfig) {
    const authorization = config.oauthToken
      ? `Bearer ${config.oauthToken}`
      : basicAuth(config.username ?? '', config.password ?? '');
    const table = new ChangeRequestTable({
      instanceUrl: config.instanceUrl,
      authorization,
      timeoutMs: durationMs(config.requestTimeout),
    });
    const sysIdOf = (ref: ChangeRecordRef) => parseInput(refSchema, ref, 'ServiceNow change record reference').sysId;

    return {
      changeRecord: {
        async open(change) {
          const row = await table.create({
            type: change.emergency ? 'emergency' : 'normal',
            state: String(stateValue.new),
            assignment_group: config.assignmentGroup,
            ...(config.category ? { category: config.category } : {}),
            // Ties the record to the cycle for people and for other integrations searching by it.
            correlation_id: change.cycleId,
            correlation_display: 'Patchflow',
            ...recordFields(change),
          });
          return { sysId: row.sys_id, number: row.number };
        },

        async update(ref, change) {
          const sysId = sysIdOf(ref);
          const row = await table.update(sysId, recordFields(change));
          const current = stageOfState.get(row.state);
          if (!current)
            throw new UpstreamError(
              `ServiceNow ${row.number} is in state ${row.state}, which the change state model does not have`,
              { retryable: false },
            );
          // One PATCH per state: the state model refuses a jump.
          for (const step of stagesToward(
            current,
            change.stage,
            row.type === 'emergency' ? emergencyPath : stageOrder,
          )) {
            const closing: Record<string, string> =
              step === 'closed' && change.closure
                ? { close_code: closeCode[change.closure.code], close_notes: change.closure.notes }
                : {};
            await table.update(sysId, { state: String(stateValue[step]), ...closing });
          }
        },

        async addEvidence(ref, evidence) {
          await table.update(sysIdOf(ref), { work_notes: evidenceText(evidence) });
        },
      },

      async testConnection() {
        try {
          await table.probe();
          return {
            ok: true,
            message: `ServiceNow ${config.instanceUrl}: change requests can be read with these credentials`,
          };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
    };
  },
});
