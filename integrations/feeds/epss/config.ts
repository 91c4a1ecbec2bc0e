import { z } from 'zod';
import { retrySchema } from '../http.ts';

export const epssConfigSchema = z.object({
  /** The daily scores file, gzip-compressed CSV as FIRST publishes it (plain CSV works too). */
  url: z.url().default('https://epss.empiricalsecurity.com/epss_scores-current.csv.gz'),
  retry: retrySchema,
});
export type EpssConfig = z.output<typeof epssConfigSchema>;
