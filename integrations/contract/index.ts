/**
 * The connector contract: the small role interfaces a connector can implement, how a connector is
 * defined, and the registry that holds them. Workflows never see these: activities look a connector
 * up in the registry and call one role method. Every value crossing here is plain data so that it
 * can be recorded in Postgres and compared in contract tests.
 */
export * from './approvals.ts';
export * from './backup.ts';
export * from './change-record.ts';
export * from './chat.ts';
export * from './connector.ts';
export * from './deployer.ts';
export * from './feed.ts';
export * from './inventory.ts';
export * from './notifier.ts';
export * from './registry.ts';
export * from './scanner.ts';
