import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

export const wsusConfigSchema = z.object({
  /** WinRM listener of the WSUS server, e.g. `https://wsus01.corp.example:5986/wsman`. */
  endpoint: z.url(),
  username: z.string().min(1),
  password: secret(),
  /** Computer target group a ring's computers are added to and the update approved for; `{ring}` is replaced. */
  groupTemplate: z.string().includes('{ring}').default('Patchflow {ring}'),
  /** First wait between installation-state reads; it grows up to `maxPollInterval`. */
  pollInterval: durationSchema.default(d('30s')),
  maxPollInterval: durationSchema.default(d('5m')),
  /** Clients install at their next detection cycle; hosts still not done after this are reported failed. */
  installTimeout: durationSchema.default(d('4h')),
  requestTimeout: durationSchema.default(d('90s')),
});
export type WsusConfig = z.infer<typeof wsusConfigSchema>;
