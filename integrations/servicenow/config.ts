import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

export const serviceNowConfigSchema = z
  .object({
    /** The instance, e.g. `https://acme.service-now.com`; the Table API lives under /api/now/table/. */
    instanceUrl: z.url('the instance URL (SERVICENOW_INSTANCE_URL), e.g. https://acme.service-now.com'),
    /** A user that may create and update change_request records (the itil role), for Basic auth… */
    username: z.string().min(1).optional(),
    password: secret().optional(),
    /** …or an OAuth 2.0 access token, sent as a Bearer token; whoever sets it up also renews it. */
    oauthToken: secret().optional(),
    /** sys_id of the group (sys_user_group) the change requests are assigned to. */
    assignmentGroup: z
      .string()
      .regex(/^[0-9a-f]{32}$/, 'the sys_id of a group (SERVICENOW_ASSIGNMENT_GROUP): 32 hexadecimal characters'),
    /** Value of the change request's category choice, e.g. `Software`; unset leaves the instance default. */
    category: z.string().min(1).optional(),
    /**
     * One call's limit. A tool that fails is skipped for the rest of a refresh, so a hung tool costs
     * one timeout per refresh, which must fit in the activity timeout with the other tools'.
     */
    requestTimeout: durationSchema.default(d('15s')),
  })
  .superRefine((c, ctx) => {
    const basic = c.username !== undefined || c.password !== undefined;
    if (basic && c.oauthToken)
      ctx.addIssue({
        code: 'custom',
        path: ['oauthToken'],
        message: 'set either username and password or oauthToken, not both',
      });
    else if (!basic && !c.oauthToken)
      ctx.addIssue({
        code: 'custom',
        path: ['password'],
        message:
          'set username and password (SERVICENOW_USERNAME, SERVICENOW_PASSWORD) or an OAuth token (SERVICENOW_OAUTH_TOKEN)',
      });
    else if (basic && !c.username)
      ctx.addIssue({
        code: 'custom',
        path: ['username'],
        message: 'Basic auth needs a username (SERVICENOW_USERNAME) with the password',
      });
    else if (basic && !c.password)
      ctx.addIssue({
        code: 'custom',
        path: ['password'],
        message: 'Basic auth needs a password (SERVICENOW_PASSWORD) with the username',
      });
  });
export type ServiceNowConfig = z.infer<typeof serviceNowConfigSchema>;
