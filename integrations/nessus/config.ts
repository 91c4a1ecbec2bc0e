import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { retrySchema } from '../feeds/http.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

/** A flag from the config file (a boolean) or from the environment (`true`/`false`, `1`/`0`, `yes`/`no`). */
const flag = z.union([z.boolean(), z.stringbool()]);

export const nessusConfigSchema = z.object({
  /**
   * Where the API lives: a Nessus Manager / Professional server (`https://nessus.corp.example:8834`)
   * or Tenable Vulnerability Management (`https://cloud.tenable.com`); both serve the /scans API.
   */
  url: z.url({
    protocol: /^https?$/,
    error:
      'the Nessus or Tenable URL (PATCHFLOW_NESSUS_URL), e.g. https://nessus.corp.example:8834 or https://cloud.tenable.com',
  }),
  /** An API key pair of one user, sent as `X-ApiKeys` on every request. */
  accessKey: secret(),
  secretKey: secret(),
  /**
   * The scan template (or user-defined policy template) uuid the verification scan is created
   * from; unset, the policy's template when `policyId` is set, else the "advanced" template (or "basic").
   */
  templateUuid: z
    .string()
    .regex(/^[0-9a-z-]+$/i, 'a template uuid as GET /editor/scan/templates lists it (PATCHFLOW_NESSUS_TEMPLATE_UUID)')
    .optional(),
  /** A user-defined scan policy (its id in GET /policies) whose settings and credentials the scan uses. */
  policyId: z.coerce.number().int().positive().optional(),
  /** The folder the scan is created in (and looked up in); unset, the user's default folder. */
  folderId: z.coerce.number().int().positive().optional(),
  /** Name of the one scan Patchflow creates and re-launches with each cycle's targets. */
  scanName: z.string().trim().min(1).max(200).default('patchflow-verify'),
  /** First wait between status polls; it grows by half each poll up to `maxPollInterval`. */
  pollInterval: durationSchema.default(d('10s')),
  maxPollInterval: durationSchema.default(d('2m')),
  /** A run still going after this is stopped and the scan fails. */
  scanTimeout: durationSchema.default(d('4h')),
  /** How long Nessus may take to write the report once the run completed. */
  exportTimeout: durationSchema.default(d('30m')),
  /** One request's limit (for the report download: the longest silence while it streams). */
  requestTimeout: durationSchema.default(d('30s')),
  /**
   * Rate limits (429 with Retry-After) and 5xx answers are retried the way the feeds retry them.
   * A plain default rather than the feeds' prefault, so that the environment can set each field
   * (`PATCHFLOW_NESSUS_RETRY_ATTEMPTS`, …).
   */
  retry: retrySchema.unwrap().default(retrySchema.parse({})),
  /** A PEM file of CA certificates to trust besides the system's, e.g. the CA of an on-prem Nessus's self-signed certificate. */
  caFile: z.string().min(1).optional(),
  /** Off only for a lab scanner whose certificate cannot be trusted any other way: the API keys then travel to whoever answers. */
  verifyTls: flag.default(true),
});
export type NessusConfig = z.infer<typeof nessusConfigSchema>;
