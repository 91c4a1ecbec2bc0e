import { z } from 'zod';
import { retrySchema } from '../http.ts';

export const csafConfigSchema = z.object({
  /** A CSAF provider's distribution directory, the one holding `changes.csv` (CSAF 2.0 §7.1.17). */
  url: z.url().default('https://security.access.redhat.com/data/csaf/v2/advisories/'),
  maxDocuments: z.coerce.number().int().min(1).max(5000).default(200),
  retry: retrySchema,
});
export type CsafConfig = z.output<typeof csafConfigSchema>;
