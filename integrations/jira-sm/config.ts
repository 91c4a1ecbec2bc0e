import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);
const transitionName = z.string().min(1).optional();
const numericId = (what: string) => z.coerce.string().regex(/^[0-9]+$/, what);

/** The workflow transition that takes a change request into each stage; a stage without one is not shown as a status. */
export const jiraTransitionsSchema = z
  .object(
    {
      assess: transitionName,
      authorize: transitionName,
      scheduled: transitionName,
      implement: transitionName,
      review: transitionName,
      closed: transitionName,
      /** Taken instead of `closed` when the change was unsuccessful; unset means `closed` for every outcome. */
      failed: transitionName,
      canceled: transitionName,
    },
    // Only a missing setting gets this wording; unknown stage names keep zod's, which names the key.
    {
      error: (issue) =>
        issue.input === undefined
          ? 'the workflow transition into each stage (JIRA_SM_TRANSITION_<STAGE>), e.g. { "implement": "Implement", "closed": "Complete" }'
          : undefined,
    },
  )
  .strict()
  .refine(
    (t) => Object.values(t).some((name) => name !== undefined),
    'name at least one workflow transition (JIRA_SM_TRANSITION_<STAGE>), e.g. implement: "Implement"',
  );
export type JiraTransitions = z.infer<typeof jiraTransitionsSchema>;

export const jiraSmConfigSchema = z.object({
  /** The Jira Cloud site, e.g. `https://acme.atlassian.net`. */
  siteUrl: z.url('the Jira site URL (JIRA_SM_SITE_URL), e.g. https://acme.atlassian.net'),
  /** The Atlassian account the API token belongs to; it must be an agent of the service project. */
  email: z.email('the e-mail address of the Atlassian account (JIRA_SM_EMAIL)'),
  /** An API token of that account (id.atlassian.com → Security → API tokens). */
  apiToken: secret(),
  /** The service desk (service project) the change requests are raised in. */
  serviceDeskId: numericId('the numeric service desk id (JIRA_SM_SERVICE_DESK_ID), e.g. 4'),
  /** The request type of a change, e.g. "Request a change"; it must show the Summary and Description fields. */
  requestTypeId: numericId('the numeric request type id (JIRA_SM_REQUEST_TYPE_ID), e.g. 10'),
  transitions: jiraTransitionsSchema,
  /**
   * One call's limit. A tool that fails is skipped for the rest of a refresh, so a hung tool costs
   * one timeout per refresh, which must fit in the activity timeout with the other tools'.
   */
  requestTimeout: durationSchema.default(d('15s')),
});
export type JiraSmConfig = z.infer<typeof jiraSmConfigSchema>;
