import { z } from 'zod';

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
});
export type AnsibleConfig = z.infer<typeof ansibleConfigSchema>;
