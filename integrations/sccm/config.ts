import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

export const sccmConfigSchema = z.object({
  /** The administration service, e.g. `https://cm01.corp.example/AdminService`. */
  url: z.url(),
  /**
   * Basic credentials. The SMS Provider itself authenticates with Windows integrated auth, so this
   * needs a front end that accepts Basic (a reverse proxy, or a CMG endpoint with its own token).
   */
  username: z.string().min(1),
  password: secret(),
  /** The device collection each ring deploys to, e.g. `{ "ring1": "PS100012" }`; targets outside it are skipped. */
  collections: z.record(
    z.string().min(1),
    z.string().regex(/^[A-Z0-9]{3}[0-9A-F]{5}$/, 'a collection ID such as PS100012'),
  ),
  /** Prefix of the software update groups and deployments Patchflow creates, so that they are recognisable and reused. */
  namePrefix: z.string().min(1).default('Patchflow'),
  pollInterval: durationSchema.default(d('60s')),
  maxPollInterval: durationSchema.default(d('10m')),
  /** Devices install at their next evaluation cycle; those not done after this are reported failed. */
  installTimeout: durationSchema.default(d('8h')),
  requestTimeout: durationSchema.default(d('60s')),
});
export type SccmConfig = z.infer<typeof sccmConfigSchema>;
