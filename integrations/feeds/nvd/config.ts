import { z } from 'zod';
import { secret } from '../../contract/connector.ts';
import { durationSchema } from '../../../kernel/duration.ts';
import { retrySchema } from '../http.ts';

const d = (text: string) => durationSchema.parse(text);

export const nvdConfigSchema = z.object({
  url: z.url().default('https://services.nvd.nist.gov/rest/json/cves/2.0'),
  /** Optional; with a key NVD allows 50 requests per 30 s instead of 5. */
  apiKey: secret().optional(),
  resultsPerPage: z.coerce.number().int().min(1).max(2000).default(2000),
  /** Upper bound on requests per sync; a sync that hits it resumes where it stopped next time. */
  maxPages: z.coerce.number().int().min(1).max(1000).default(50),
  /** How far back the first sync looks; later syncs start where the previous one ended. */
  initialLookback: durationSchema.default(d('7d')),
  /** Pause between page requests, as NVD asks of clients (6 s without a key). */
  requestInterval: durationSchema.default(d('6s')),
  retry: retrySchema,
});
export type NvdConfig = z.output<typeof nvdConfigSchema>;
