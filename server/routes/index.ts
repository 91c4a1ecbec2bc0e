import { assetRoutes } from './assets.ts';
import { auditRoutes } from './audit.ts';
import { baselineRoutes } from './baselines.ts';
import { connectorRoutes } from './connectors.ts';
import { cycleControlRoutes } from './cycle-control.ts';
import { cycleRoutes } from './cycles.ts';
import { demoRoutes } from './demo.ts';
import { feedRoutes } from './feeds.ts';
import { groupRoutes } from './groups.ts';
import { inventoryRoutes } from './inventory.ts';
import { prioritizedFindingRoutes } from './prioritized-findings.ts';
import { scanRoutes } from './scans.ts';
import { tokenRoutes, whoamiRoutes } from './tokens.ts';
import type { RouteModule } from './types.ts';
import { userRoutes } from './users.ts';

/** Every REST route group, listed explicitly; mounted under /api. */
export const routeModules: RouteModule[] = [
  cycleRoutes,
  cycleControlRoutes,
  userRoutes,
  auditRoutes,
  connectorRoutes,
  assetRoutes,
  groupRoutes,
  scanRoutes,
  feedRoutes,
  inventoryRoutes,
  prioritizedFindingRoutes,
  baselineRoutes,
  demoRoutes,
  tokenRoutes,
  whoamiRoutes,
];
