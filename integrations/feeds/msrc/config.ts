import { z } from 'zod';
import { retrySchema } from '../http.ts';

export const msrcConfigSchema = z.object({
  /** The MSRC CVRF API; `{url}/updates` lists the monthly documents. */
  url: z.url().default('https://api.msrc.microsoft.com/cvrf/v3.0'),
  /** Documents fetched per sync at most; each monthly release is several megabytes. */
  maxDocuments: z.coerce.number().int().min(1).max(200).default(6),
  retry: retrySchema,
});
export type MsrcConfig = z.output<typeof msrcConfigSchema>;
