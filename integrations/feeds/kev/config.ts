import { z } from 'zod';
import { retrySchema } from '../http.ts';

export const kevConfigSchema = z.object({
  url: z.url().default('https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json'),
  retry: retrySchema,
});
export type KevConfig = z.output<typeof kevConfigSchema>;
