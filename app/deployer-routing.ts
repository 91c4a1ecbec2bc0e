import { z } from 'zod';

/**
 * Which deployer patches which host, when one installation has several: Windows hosts through WSUS
 * or SCCM, Linux hosts through Ansible, a patch group of its own through AWX. A host's patch group
 * decides first, then its platform, then the installation's default deployer.
 */
export const deployerRoutingSchema = z
  .strictObject({
    /** Patch group → connector id, e.g. `{ "dmz": "awx" }`. */
    byGroup: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** Platform (windows, linux, macos) → connector id, e.g. `{ "windows": "wsus", "linux": "ansible" }`. */
    byPlatform: z.record(z.string().min(1), z.string().min(1)).default({}),
  })
  .prefault({});
export type DeployerRouting = z.output<typeof deployerRoutingSchema>;

export interface RoutedHost {
  platform?: string | null | undefined;
  patchGroup?: string | null | undefined;
}

/** The connector id that deploys to this host. */
export function deployerFor(host: RoutedHost, routing: DeployerRouting | undefined, fallback: string): string {
  const group = host.patchGroup ? routing?.byGroup[host.patchGroup] : undefined;
  const platform = host.platform ? routing?.byPlatform[host.platform.toLowerCase()] : undefined;
  return group ?? platform ?? fallback;
}

/** Every connector id the routing or the default may name, for checking at start that each is a deployer. */
export function routedDeployers(routing: DeployerRouting | undefined, fallback: string): string[] {
  return [
    ...new Set([fallback, ...Object.values(routing?.byGroup ?? {}), ...Object.values(routing?.byPlatform ?? {})]),
  ];
}

/** `windows=wsus,linux=ansible` as people write it in one environment variable. */
export function parseRoutingPairs(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined) return undefined;
  return Object.fromEntries(
    text
      .split(',')
      .map((pair) => pair.trim())
      .filter(Boolean)
      .map((pair) => {
        const [key, value] = pair.split('=', 2).map((s) => s.trim());
        return [key ?? '', value ?? ''];
      }),
  );
}
