import { z } from 'zod';
import { changeStages, type ChangeRecordContent, type ChangeRecordRef, type ChangeStage } from '../contract/index.ts';
import { defineConnector } from '../contract/connector.ts';
import { durationMs } from '../../kernel/duration.ts';
import { ConflictError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { formatInstant } from '../kit/chat/card.ts';
import { evidenceText, stagesToward } from '../kit/itsm/change-record.ts';
import { JiraServiceManagementClient } from './client.ts';
import { jiraSmConfigSchema, type JiraSmConfig, type JiraTransitions } from './config.ts';

const refSchema = z.object({ issueKey: z.string().min(1), issueId: z.string().min(1) });

/**
 * The stage Patchflow last moved the issue to, kept on the issue itself as an entity property:
 * a workflow status says nothing about which Patchflow stage it stands for, and the property
 * lets a refresh carry on from the last transition it made, whatever happened since.
 */
const stagePropertyKey = 'patchflow-change';
const stagePropertySchema = z.object({ stage: z.enum(changeStages) });

/** Jira has no fields for plans and windows in every request type, so the description carries them. */
function requestDescription(change: ChangeRecordContent): string {
  return [
    change.description,
    '',
    'Justification:',
    change.justification,
    '',
    'Implementation plan:',
    change.implementationPlan,
    '',
    'Backout plan:',
    change.backoutPlan,
    ...(change.window
      ? ['', `Maintenance window: ${formatInstant(change.window.start)} to ${formatInstant(change.window.end)}`]
      : []),
    '',
    `Type: ${change.emergency ? 'emergency' : 'normal'} change; risk ${change.risk}`,
  ].join('\n');
}

export const jiraSmConnector = defineConnector({
  id: 'jira-sm',
  title: 'Jira Service Management (change requests)',
  configSchema: jiraSmConfigSchema,
  capabilities: { changeRecord: true },
  env: { prefix: 'JIRA_SM', groups: { transitions: 'JIRA_SM_TRANSITION' } },
  create(config: JiraSmConfig) {
    const jira = new JiraServiceManagementClient({
      siteUrl: config.siteUrl,
      email: config.email,
      apiToken: config.apiToken,
      timeoutMs: durationMs(config.requestTimeout),
    });
    const keyOf = (ref: ChangeRecordRef) => parseInput(refSchema, ref, 'Jira change record reference').issueKey;
    // Summary holds 255 characters.
    const fields = (change: ChangeRecordContent) => ({
      summary: change.title.slice(0, 255),
      description: requestDescription(change),
    });
    /** Which `transitions` setting moves the issue into `stage`; nothing moves an issue back into its first status. */
    const transitionSetting = (stage: ChangeStage, change: ChangeRecordContent): keyof JiraTransitions | undefined =>
      stage === 'new'
        ? undefined
        : stage === 'closed' && change.closure?.code === 'unsuccessful' && config.transitions.failed
          ? 'failed'
          : stage;

    /** Takes the configured transition if the issue's current status offers it; otherwise says which it does offer. */
    async function transition(key: string, stage: ChangeStage, change: ChangeRecordContent): Promise<void> {
      const setting = transitionSetting(stage, change);
      const name = setting && config.transitions[setting];
      if (!setting || !name) return;
      const available = await jira.transitions(key);
      const match = available.find((t) => t.name.trim().toLowerCase() === name.trim().toLowerCase());
      if (!match) {
        const offered = available.map((t) => `"${t.name}"`).join(', ') || 'none';
        throw new ConflictError(
          `Jira ${key}: its status offers no transition "${name}" (connectors.jira-sm.transitions.${setting}, for Patchflow stage ${stage}); it offers ${offered}`,
        );
      }
      await jira.transition(key, match.id);
    }

    return {
      changeRecord: {
        async open(change) {
          const created = await jira.createRequest(config.serviceDeskId, config.requestTypeId, fields(change));
          return { issueKey: created.issueKey, issueId: created.issueId };
        },

        async update(ref, change) {
          const key = keyOf(ref);
          await jira.editIssue(key, fields(change));
          const stored = stagePropertySchema.safeParse(await jira.property(key, stagePropertyKey));
          for (const stage of stagesToward(stored.success ? stored.data.stage : 'new', change.stage)) {
            await transition(key, stage, change);
            await jira.setProperty(key, stagePropertyKey, { stage });
          }
        },

        async addEvidence(ref, evidence) {
          // Internal: agents and the CAB see it; the requester's portal view does not.
          await jira.comment(keyOf(ref), evidenceText(evidence), false);
        },
      },

      async testConnection() {
        try {
          const desk = await jira.serviceDesk(config.serviceDeskId);
          const type = await jira.requestType(config.serviceDeskId, config.requestTypeId);
          return {
            ok: true,
            message: `Jira Service Management project ${desk.projectKey} (${desk.projectName}) at ${config.siteUrl}; changes are raised as "${type.name}"`,
          };
        } catch (err) {
          return { ok: false, message: (err as Error).message };
        }
      },
    };
  },
});
