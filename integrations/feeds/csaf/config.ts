import { z } from 'zod';
import { retrySchema } from '../http.ts';

/** Red Hat's distribution directory: what a CSAF feed with no source named reads, as it always has. */
export const defaultDirectoryUrl = 'https://security.access.redhat.com/data/csaf/v2/advisories/';

/** CSAF 2.0 TLP labels (provider-metadata `tlp_label`); CSAF 2.1 says CLEAR for WHITE, and both are read as one. */
export const tlpLabels = ['UNLABELED', 'WHITE', 'GREEN', 'AMBER', 'RED'] as const;
export const tlpLabelSchema = z.preprocess((v) => (v === 'CLEAR' ? 'WHITE' : v), z.enum(tlpLabels));

const sources = ['url', 'providerMetadataUrl', 'domain'] as const;

export const csafConfigSchema = z
  .object({
    /**
     * A CSAF provider's distribution directory, the one holding `changes.csv` (CSAF 2.0 §7.1.13).
     * Red Hat's when neither this nor `providerMetadataUrl` nor `domain` is given.
     */
    url: z.url().optional(),
    /** A provider's provider-metadata.json (§7.1.7): its ROLIE feeds or directories, and its OpenPGP keys. */
    providerMetadataUrl: z.url().optional(),
    /** A provider's domain: its provider-metadata.json is read from https://<domain>/.well-known/csaf/ (§7.1.9). */
    domain: z
      .string()
      .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, 'a domain such as example.com')
      .optional(),
    /** Which ROLIE feeds to read, by their `tlp_label`; directories carry no label and are read whole. */
    tlp: z.array(tlpLabelSchema).min(1).default(['WHITE']),
    /**
     * Armored OpenPGP public keys to verify signatures with, as file paths or URLs, each optionally
     * pinned with `#FINGERPRINT`. When given, only these are trusted and the provider's own keys are
     * not fetched; for directory-only providers that publish no provider-metadata.json.
     */
    openpgpKeys: z.array(z.string().min(1)).default([]),
    /** Refuse documents without a good OpenPGP signature by a trusted key (§7.1.19). */
    requireSignature: z.boolean().default(true),
    /** Refuse documents without a published SHA-512 or SHA-256 hash (§7.1.18). A wrong hash refuses always. */
    requireHash: z.boolean().default(true),
    maxDocuments: z.coerce.number().int().min(1).max(5000).default(200),
    retry: retrySchema,
  })
  .superRefine((c, ctx) => {
    const given = sources.filter((k) => c[k] !== undefined);
    if (given.length > 1)
      ctx.addIssue({
        code: 'custom',
        path: [given[1] ?? 'url'],
        message: `give one of ${sources.join(', ')}, not ${given.join(' and ')}`,
      });
  });
export type CsafConfig = z.output<typeof csafConfigSchema>;
