import { assetCommands } from './assets.ts';
import { auditCommands } from './audit.ts';
import { chatCommands } from './chat.ts';
import { baselineCommands } from './baselines.ts';
import { connectorCommands } from './connectors.ts';
import { cycleControlCommands } from './cycle-control.ts';
import { cycleCommands } from './cycles.ts';
import { demoCommands } from './demo.ts';
import { feedCommands } from './feeds.ts';
import { findingPrioritizeCommands } from './findings-prioritize.ts';
import { groupCommands } from './groups.ts';
import { inventoryCommands } from './inventory.ts';
import { runtimeCommands } from './runtime.ts';
import { scanCommands } from './scans.ts';
import { signInCommands } from './sign-in.ts';
import { tokenCommands } from './tokens.ts';
import type { CliCommand } from './types.ts';
import { userCommands } from './users.ts';

/** Every CLI command, listed explicitly. */
export const commands: CliCommand[] = [
  ...runtimeCommands,
  ...cycleCommands,
  ...cycleControlCommands,
  ...userCommands,
  ...signInCommands,
  ...tokenCommands,
  ...auditCommands,
  ...chatCommands,
  ...connectorCommands,
  ...assetCommands,
  ...groupCommands,
  ...scanCommands,
  ...feedCommands,
  ...inventoryCommands,
  ...findingPrioritizeCommands,
  ...baselineCommands,
  ...demoCommands,
];
