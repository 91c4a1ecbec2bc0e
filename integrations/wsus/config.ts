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
  /**
   * Approvals carry a deadline this long after the deployment starts. At the deadline a client
   * installs whatever its Automatic Updates policy says, so clients set only to notify install
   * too; the default, at once, installs at the client's next detection. WSUS has no way to make
   * a client detect sooner: clients poll on their own "detection frequency" (22 hours by
   * default, 1 at the least, set by Group Policy), so installTimeout must cover it.
   */
  installDeadline: durationSchema.default(d('0s')),
  /** Clients install at their next detection cycle; hosts still not done after this are reported failed. */
  installTimeout: durationSchema.default(d('4h')),
  requestTimeout: durationSchema.default(d('90s')),
  /** The WSUS server's winrm/config MaxEnvelopeSizekb (Windows' default is 500; the minimum 32). */
  maxEnvelopeSizeKb: z.number().int().min(32).default(500),
});
export type WsusConfig = z.infer<typeof wsusConfigSchema>;
