import type { Knex } from 'knex';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure, TimeoutFailure } from '@temporalio/common';
import type { DiscoveredAsset } from '../integrations/contract/index.ts';
import type { ConnectorRegistry } from '../integrations/contract/registry.ts';
import { isErrorKindName } from '../kernel/error-kinds.ts';
import { ConflictError, errorFromFailure, NotFoundError, UpstreamError } from '../kernel/errors.ts';
import { appendAudit, canonicalJson } from '../db/repositories/audit.ts';
import {
  assetFromRow,
  assetInputSchema,
  patchAsset,
  upsertAssetRows,
  type Asset,
  type AssetField,
} from '../db/repositories/assets.ts';
import {
  inventoryScheduleId,
  inventorySyncWorkflowId,
  scheduledInventorySyncWorkflowId,
  type InventorySyncInput,
  type inventorySyncWorkflow,
} from '../workflows/inventory-sync.ts';
import type { Settings } from '../runtime/settings.ts';
import type { AppContext } from './context.ts';
import { ensureIntervalSchedules, intervalScheduleStatus, type ScheduleStatus } from './schedules.ts';

/**
 * Inventory sync: what an inventory connector (WSUS, SCCM, Ansible) lists becomes the assets it is
 * the source of. A host is stored with the fields the connector states and keeps the others (the
 * OS a scan read, the owner someone set); a host it no longer lists is marked vanished in
 * `vars.vanishedAt`, never deleted, since cycles may target it, and is unmarked when listed again.
 */

export interface RejectedHost {
  /** As the connector listed it; `#<n>` (its place in the listing) when it gave none. */
  hostname: string;
  field: string;
  message: string;
}

export interface InventorySyncReport {
  connector: string;
  syncedAt: string;
  listed: number;
  /** Hostnames no asset had before. */
  new: string[];
  /** Hosts some stated field of which differs from what was stored, with those fields. */
  changed: { hostname: string; fields: string[] }[];
  unchanged: number;
  /** Hosts this connector is the source of that its listing no longer has, marked with this sync. */
  vanished: string[];
  /** Hosts not stored: a field failed validation. */
  rejected: RejectedHost[];
}

export interface InventoryEnv {
  db: Knex;
  registry: ConnectorRegistry;
}

/** The fields a connector may state of an asset; the hostname is the key, packages are not listed. */
const listableFields = Object.keys(assetInputSchema.shape).filter(
  (f): f is Exclude<AssetField, 'hostname'> => f !== 'hostname' && f !== 'packages',
);

/** The configured connectors that list assets, in configuration order. */
export function inventoryConnectorIds(registry: ConnectorRegistry): string[] {
  return registry
    .list()
    .filter((c) => c.definition.capabilities.inventory)
    .map((c) => c.definition.id);
}

function inventoryConnector(registry: ConnectorRegistry, id: string): string {
  const ids = inventoryConnectorIds(registry);
  if (!ids.includes(id))
    throw new NotFoundError(
      `no inventory connector "${id}" is configured; configured inventory connectors: ${ids.join(', ') || 'none'}`,
    );
  return id;
}

interface ListedAsset {
  input: ReturnType<typeof assetInputSchema.parse>;
  /** The fields the connector gave a value: only these overwrite what is stored. */
  stated: Exclude<AssetField, 'hostname'>[];
}

function validate(connector: string, listed: DiscoveredAsset[]): { valid: ListedAsset[]; rejected: RejectedHost[] } {
  const valid = new Map<string, ListedAsset>();
  const rejected: RejectedHost[] = [];
  listed.forEach((d, i) => {
    const parsed = assetInputSchema.safeParse({ ...d, source: connector });
    if (!parsed.success) {
      const hostname = typeof d.hostname === 'string' && d.hostname ? d.hostname : `#${i + 1}`;
      for (const issue of parsed.error.issues)
        rejected.push({ hostname, field: issue.path.join('.') || '(asset)', message: issue.message });
      return;
    }
    const given = d as unknown as Record<string, unknown>;
    const stated = listableFields.filter((f) => f === 'source' || given[f] !== undefined);
    // A host listed twice keeps its last entry, as upsertAssetRows does.
    valid.set(parsed.data.hostname, { input: parsed.data, stated });
  });
  return { valid: [...valid.values()], rejected };
}

async function storedAssets(db: Knex, connector: string, hostnames: string[]): Promise<Map<string, Asset>> {
  const rows: Parameters<typeof assetFromRow>[0][] = await db('assets').where({ source: connector }).select('*');
  // Chunks keep the statement under Postgres' bind-parameter limit on large fleets.
  for (let i = 0; i < hostnames.length; i += 1000)
    rows.push(
      ...(await db('assets')
        .whereIn('hostname', hostnames.slice(i, i + 1000))
        .select('*')),
    );
  return new Map(rows.map((r) => [r.hostname, assetFromRow(r)]));
}

/**
 * Lists the connector's assets and stores them in one transaction with the audit entry
 * `inventory.synced`; reports new, changed (with the fields), vanished and rejected hosts.
 */
export async function syncInventory(env: InventoryEnv, id: string, actor: string): Promise<InventorySyncReport> {
  const connector = inventoryConnector(env.registry, id);
  const listed = await env.registry.role(connector, 'inventory').listAssets();
  const { valid, rejected } = validate(connector, listed);
  const syncedAt = new Date().toISOString();
  return env.db.transaction(async (trx) => {
    const before = await storedAssets(
      trx,
      connector,
      valid.map((v) => v.input.hostname),
    );
    const report: InventorySyncReport = {
      connector,
      syncedAt,
      listed: listed.length,
      new: [],
      changed: [],
      unchanged: 0,
      vanished: [],
      rejected,
    };
    for (const { input, stated } of valid) {
      const was = before.get(input.hostname);
      if (!was) {
        report.new.push(input.hostname);
        continue;
      }
      const fields = stated.filter((f) => canonicalJson(was[f] ?? null) !== canonicalJson(input[f] ?? null));
      if (fields.length) report.changed.push({ hostname: input.hostname, fields });
      else report.unchanged++;
    }
    // One upsert per set of stated fields, so that a host whose listing leaves a field out keeps it.
    const byStated = new Map<string, ListedAsset[]>();
    for (const v of valid) byStated.set(v.stated.join(','), [...(byStated.get(v.stated.join(',')) ?? []), v]);
    for (const group of byStated.values())
      await upsertAssetRows(
        trx,
        group.map((v) => v.input),
        { mergeFields: group[0]!.stated },
      );
    const listedNames = new Set(valid.map((v) => v.input.hostname));
    for (const asset of before.values()) {
      if (asset.source !== connector || listedNames.has(asset.hostname) || asset.vars['vanishedAt']) continue;
      await patchAsset(trx, asset.id, { vars: { ...asset.vars, vanishedAt: syncedAt } });
      report.vanished.push(asset.hostname);
    }
    await appendAudit(trx, {
      actor,
      action: 'inventory.synced',
      subjectType: 'connector',
      subjectId: connector,
      data: {
        listed: report.listed,
        new: report.new.length,
        changed: report.changed.length,
        unchanged: report.unchanged,
        vanished: report.vanished,
        rejected: rejected.length,
      },
    });
    return report;
  });
}

/** What an inventory sync workflow is given. */
export function inventorySyncInput(
  settings: Settings,
  connector: string,
  actor: string,
  attempts: number,
): InventorySyncInput {
  return { connector, actor, attempts, timeout: settings.inventory.syncTimeout };
}

/** A person is waiting: one attempt, its error at once; the Schedule's next run retries. */
const REQUESTED_ATTEMPTS = 1;
/** A scheduled sync is tried again later when the server stays down; the next run comes anyway. */
const SCHEDULED_ATTEMPTS = 3;

/**
 * A sync someone asked for (REST, the CLI), run by a worker as the inventorySync workflow and
 * waited for. A sync of the connector already running is not started again: this waits for it.
 */
export async function requestInventorySync(ctx: AppContext, id: string, actor: string): Promise<InventorySyncReport> {
  const connector = inventoryConnector(ctx.registry, id);
  const { taskQueue } = ctx.settings.temporal;
  const handle = await ctx.temporal.workflow.start<typeof inventorySyncWorkflow>('inventorySyncWorkflow', {
    taskQueue,
    workflowId: inventorySyncWorkflowId(taskQueue, connector),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [inventorySyncInput(ctx.settings, connector, actor, REQUESTED_ATTEMPTS)],
  });
  const outcome = await handle.result().catch((err: unknown) => {
    throw syncFailure(ctx.settings, connector, err);
  });
  // Only a scheduled run skips, and it never runs under the connector's own id.
  if ('skipped' in outcome) throw new ConflictError(outcome.skipped);
  return outcome;
}

/** A failed sync workflow as the error kind its activity failed with; a timeout names the setting that bounds it. */
function syncFailure(settings: Settings, connector: string, err: unknown): unknown {
  if (!(err instanceof WorkflowFailedError)) return err;
  for (let cause = err.cause; cause instanceof TemporalFailure; cause = cause.cause) {
    if (cause instanceof ApplicationFailure && isErrorKindName(cause.type ?? undefined))
      return errorFromFailure(cause.type, cause.message);
    if (cause instanceof TimeoutFailure)
      return new UpstreamError(
        `the ${connector} inventory sync did not finish within inventory.syncTimeout ${settings.inventory.syncTimeout}`,
      );
  }
  return err;
}

export interface InventoryConnectorStatus {
  connector: string;
  title: string;
  /** The last sync's audit entry: when, who asked, what it found. */
  lastSync: { at: string; actor: string; data: Record<string, unknown> } | null;
  schedule: ScheduleStatus | null;
}

/** Each configured inventory connector with its last sync and its Schedule. */
export async function inventoryStatus(ctx: AppContext): Promise<InventoryConnectorStatus[]> {
  const { taskQueue } = ctx.settings.temporal;
  return Promise.all(
    inventoryConnectorIds(ctx.registry).map(async (connector) => {
      const last = (await ctx
        .db('audit_events')
        .where({ action: 'inventory.synced', subject_type: 'connector', subject_id: connector })
        .orderBy('seq', 'desc')
        .first('at', 'actor', 'data')) as
        { at: Date | string; actor: string; data: Record<string, unknown> } | undefined;
      return {
        connector,
        title: ctx.registry.definitions.get(connector)?.title ?? connector,
        lastSync: last ? { at: new Date(last.at).toISOString(), actor: last.actor, data: last.data } : null,
        schedule: (await intervalScheduleStatus(ctx, inventoryScheduleId(taskQueue, connector))) ?? null,
      };
    }),
  );
}

/**
 * Inventory Schedules as the settings ask (app/schedules.ts): one per configured inventory
 * connector at `inventory.schedule.<id>` (default 6h); `off` or a connector no longer configured
 * loses its.
 */
export async function ensureInventorySchedules(ctx: AppContext): Promise<Record<string, string>> {
  const { taskQueue } = ctx.settings.temporal;
  const configured = inventoryConnectorIds(ctx.registry);
  const intervals = ctx.settings.inventory.schedule as Record<string, string | undefined>;
  const known = [...ctx.registry.definitions.values()].filter((d) => d.capabilities.inventory).map((d) => d.id);
  return ensureIntervalSchedules(
    ctx,
    'inventory',
    known.map((connector) => {
      const every = configured.includes(connector) ? intervals[connector] : undefined;
      return {
        name: connector,
        scheduleId: inventoryScheduleId(taskQueue, connector),
        every: every === 'off' ? undefined : every,
        workflowType: 'inventorySyncWorkflow',
        workflowId: scheduledInventorySyncWorkflowId(taskQueue, connector),
        args: [inventorySyncInput(ctx.settings, connector, 'schedule', SCHEDULED_ATTEMPTS)],
      };
    }),
  );
}
