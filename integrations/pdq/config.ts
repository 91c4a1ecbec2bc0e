import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

export const pdqConfigSchema = z.object({
  /** WinRM listener of the PDQ Deploy console (or central server), e.g. `https://pdq01.corp.example:5986/wsman`. */
  endpoint: z.url(),
  username: z.string().min(1),
  password: secret(),
  pdqDeployPath: z.string().min(1).default('C:\\Program Files (x86)\\Admin Arsenal\\PDQ Deploy\\PDQDeploy.exe'),
  /** The sqlite3 shell used to read deployment status from the console database, read-only. */
  sqlitePath: z.string().min(1).default('C:\\Program Files (x86)\\Admin Arsenal\\PDQ Deploy\\sqlite3.exe'),
  databasePath: z.string().min(1).default('C:\\ProgramData\\Admin Arsenal\\PDQ Deploy\\Database.db'),
  /**
   * The patch's vendorRef names the install package. Its install step must carry a condition that
   * skips it when the patch is present: a skipped install step is how a host reports already_compliant.
   * Verification and rollback use sibling packages named by these templates (`{package}` is replaced).
   */
  verifyPackageTemplate: z.string().includes('{package}').default('{package} - Verify'),
  rollbackPackageTemplate: z.string().includes('{package}').default('{package} - Uninstall'),
  pollInterval: durationSchema.default(d('10s')),
  maxPollInterval: durationSchema.default(d('2m')),
  deploymentTimeout: durationSchema.default(d('2h')),
  requestTimeout: durationSchema.default(d('90s')),
});
export type PdqConfig = z.infer<typeof pdqConfigSchema>;
