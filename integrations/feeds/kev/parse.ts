import { z } from 'zod';
import { InputError } from '../../../kernel/errors.ts';
import { parseInput } from '../../../kernel/validate.ts';
import { cveIdSchema, type FeedBatch } from '../batch.ts';
import { feedText, parseJsonText } from '../parse.ts';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date such as 2024-05-01');

const kevEntrySchema = z.object({
  cveID: cveIdSchema,
  vendorProject: z.string(),
  product: z.string(),
  vulnerabilityName: z.string(),
  dateAdded: isoDate,
  shortDescription: z.string(),
  requiredAction: z.string(),
  dueDate: isoDate.optional(),
  knownRansomwareCampaignUse: z.enum(['Known', 'Unknown']),
  notes: z.string().optional(),
});

export const kevCatalogSchema = z.object({
  title: z.string(),
  catalogVersion: z.string().min(1),
  dateReleased: z.string(),
  count: z.number().int().min(0),
  vulnerabilities: z.array(kevEntrySchema),
});

/** The CISA KEV catalogue (the whole catalogue is one JSON document) → cves.kev*. */
export function parseKevCatalog(body: Buffer | string): { catalogVersion: string; batch: FeedBatch } {
  const catalog = parseInput(
    kevCatalogSchema,
    parseJsonText(feedText(body, 'KEV catalog'), 'KEV catalog'),
    'KEV catalog',
  );
  // The catalogue states its own size: a mismatch means a cut or edited file, not a smaller catalogue.
  if (catalog.count !== catalog.vulnerabilities.length) {
    throw new InputError(
      `KEV catalog says count ${catalog.count} but lists ${catalog.vulnerabilities.length} vulnerabilities`,
      [{ path: ['count'], message: 'does not match vulnerabilities' }],
    );
  }
  return {
    catalogVersion: catalog.catalogVersion,
    batch: {
      cves: catalog.vulnerabilities.map((v) => ({
        id: v.cveID,
        kev: {
          dateAdded: v.dateAdded,
          dueDate: v.dueDate,
          ransomware: v.knownRansomwareCampaignUse === 'Known',
          notes: v.notes || undefined,
        },
      })),
      advisories: [],
      replacesKevCatalog: true,
    },
  };
}
