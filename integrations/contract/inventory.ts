export interface DiscoveredAsset {
  hostname: string;
  fqdn?: string | undefined;
  ips: string[];
  platform?: string | undefined;
  patchGroup?: string | undefined;
  tags: string[];
  /** Connector-specific variables, kept for the deployer that found the host. */
  vars: Record<string, unknown>;
}

export interface InventorySource {
  listAssets(): Promise<DiscoveredAsset[]>;
}
