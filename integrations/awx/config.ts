import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

export const awxConfigSchema = z.object({
  /** Controller base URL, e.g. `https://awx.corp.example` (the API lives under /api/v2/). */
  url: z.url(),
  /** Where the controller API lives: `/api/v2/` for AWX and AAP up to 2.4, `/api/controller/v2/` behind the AAP 2.5 gateway. */
  apiPath: z
    .string()
    .regex(/^\/.*\/$/, 'a path starting and ending with /')
    .default('/api/v2/'),
  /** An OAuth2 / personal access token of a user that may execute the job template. */
  token: secret(),
  /** The job template that runs the patch playbook; it must prompt on launch for limit and variables. */
  jobTemplateId: z.coerce.number().int().positive(),
  /** Variables passed with every launch besides Patchflow's own (e.g. a repository URL). */
  extraVars: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  pollInterval: durationSchema.default(d('5s')),
  maxPollInterval: durationSchema.default(d('60s')),
  /** A job still running after this is cancelled and its hosts reported failed. */
  jobTimeout: durationSchema.default(d('4h')),
  requestTimeout: durationSchema.default(d('30s')),
});
export type AwxConfig = z.infer<typeof awxConfigSchema>;
