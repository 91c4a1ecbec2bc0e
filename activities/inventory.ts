import { syncInventory, type InventorySyncReport } from '../app/inventory-sync.ts';
import type { ActivityDeps } from './index.ts';

/** Inventory syncs as an activity: the sync of app/inventory-sync.ts, which lists, stores and audits. */
export function createInventoryActivities(deps: ActivityDeps) {
  return {
    async syncInventoryConnector(input: { connector: string; actor: string }): Promise<InventorySyncReport> {
      return syncInventory({ db: deps.db, registry: deps.registry }, input.connector, input.actor);
    },
  };
}
