import { z } from 'zod';

/** A flag from a config file (true/false) or an environment variable ("true", "false", "1", "0"). */
const flag = z.union([z.boolean(), z.stringbool()]);

export const ansibleConfigSchema = z.object({
  /** Inventory file or directory passed to `-i`; hostnames in it must match asset hostnames. */
  inventory: z.string().min(1).optional(),
  /** Playbook that understands `patchflow_action` = deploy | verify | backup | rollback. */
  playbook: z.string().min(1).optional(),
  ansiblePlaybookBin: z.string().min(1).default('ansible-playbook'),
  forks: z.coerce.number().int().min(1).max(500).default(10),
  /** Extra variables given to every run (e.g. a package repository URL). */
  extraVars: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /** A run longer than this is killed and its hosts reported failed. */
  runTimeoutSeconds: z.coerce.number().int().min(10).max(86_400).default(3600),
  /**
   * Refuse a host over SSH whose host key is unknown or has changed (ANSIBLE_HOST_KEY_CHECKING).
   * Off, anyone who answers on a host's address gets Patchflow's credentials and commands.
   */
  hostKeyChecking: flag.default(true),
  /** The known_hosts file that vouches for the hosts' SSH keys, instead of the worker user's ~/.ssh/known_hosts. */
  knownHostsFile: z
    .string()
    .regex(/^\/[^\s"'\\]*$/, 'an absolute path without spaces or quotes')
    .optional(),
});
export type AnsibleConfig = z.infer<typeof ansibleConfigSchema>;
