import { can, principalOf } from '../authentication.ts';
import { z } from 'zod';
import { assetFileFormatSchema, importAssetFile } from '../../app/asset-import.ts';
import { assetDetail, assetHistory, historyPageSchema } from '../../app/asset-records.ts';
import type { Db } from '../../db/knex.ts';
import { getGroup, groupNameSchema } from '../../db/repositories/asset-groups.ts';
import { parseAssetQuery, type AssetQuery } from '../../db/repositories/asset-query.ts';
import {
  assetInputSchema,
  assetPatchSchema,
  countAssets,
  deleteAsset,
  getAsset,
  listAssets,
  patchAsset,
  upsertAssetRows,
} from '../../db/repositories/assets.ts';
import { appendAudit } from '../../db/repositories/audit.ts';
import { parseInput } from '../../kernel/validate.ts';
import { loadPrioritizationPolicy } from '../../prioritization/policy.ts';
import { requestText, withRequestBody } from '../request-body.ts';
import type { RouteModule } from './types.ts';

const listQuerySchema = z
  .object({
    /** An inventory query, e.g. `tier<=2 and exposure=internet`. */
    query: z.string().max(2000).optional(),
    /** A saved group; combined with `query` by "and" when both are given. */
    group: groupNameSchema.optional(),
    limit: z.coerce.number().int().min(1).max(10_000).default(1000),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

const importQuerySchema = z.object({ format: assetFileFormatSchema.optional() }).strict();
/** Inventory files are validated whole before anything is written, so they are read into memory; this bounds that. */
const MAX_INVENTORY_FILE_BYTES = 50 * 1024 * 1024;

/** The filter a list request asks for: a query, a saved group's query, or both. */
async function listFilter(db: Db, q: z.output<typeof listQuerySchema>): Promise<AssetQuery | undefined> {
  const parts: AssetQuery[] = [];
  if (q.group) parts.push(parseAssetQuery((await getGroup(db, q.group)).query));
  if (q.query !== undefined) parts.push(parseAssetQuery(q.query));
  return parts.length > 1 ? { kind: 'and', items: parts } : parts[0];
}

export const assetRoutes: RouteModule = {
  path: '/assets',
  register(router, ctx) {
    // Read once at start-up, as the prioritised findings do: the compliance block's deadlines are theirs.
    const policy = loadPrioritizationPolicy();
    router.get('/', can(ctx, 'inventory.read'), async (req, res) => {
      const q = parseInput(listQuerySchema, req.query, 'asset list query');
      const filter = await listFilter(ctx.db, q);
      const [assets, total] = await Promise.all([
        listAssets(ctx.db, { query: filter, limit: q.limit, offset: q.offset }),
        countAssets(ctx.db, filter),
      ]);
      res.json({ assets, total });
    });

    router.post('/import', can(ctx, 'inventory.import'), async (req, res) => {
      const { format: requested } = parseInput(importQuerySchema, req.query, 'asset import query');
      const result = await withRequestBody(req, MAX_INVENTORY_FILE_BYTES, async () => {
        // express.json() has already read a small JSON upload sent as application/json.
        const text =
          req.body === undefined
            ? await requestText(req, MAX_INVENTORY_FILE_BYTES, 'the inventory file')
            : JSON.stringify(req.body);
        const format = requested ?? (req.is('application/json') || /^\s*[[{]/.test(text) ? 'json' : 'csv');
        return importAssetFile(ctx.db, text, format, principalOf(res).userId);
      });
      res.json(result);
    });

    router.get('/:ref', can(ctx, 'inventory.read'), async (req, res) => {
      res.json(await assetDetail(ctx.db, req.params.ref, policy));
    });

    router.get('/:ref/history', can(ctx, 'inventory.read'), async (req, res) => {
      const page = parseInput(historyPageSchema, req.query, 'asset history query');
      res.json(await assetHistory(ctx.db, req.params.ref, page));
    });

    router.post('/', can(ctx, 'inventory.import'), async (req, res) => {
      const input = parseInput(assetInputSchema.strict(), req.body, 'asset');
      const { asset, inserted } = await ctx.db.transaction(async (trx) => {
        const [row] = await upsertAssetRows(trx, [input]);
        await appendAudit(trx, {
          actor: principalOf(res).userId,
          action: 'asset.saved',
          subjectType: 'asset',
          subjectId: row!.id,
          data: { hostname: input.hostname },
        });
        return { asset: await getAsset(trx, row!.id), inserted: row!.inserted };
      });
      res.status(inserted ? 201 : 200).json(asset);
    });

    router.patch('/:ref', can(ctx, 'inventory.import'), async (req, res) => {
      const patch = parseInput(assetPatchSchema, req.body, 'asset change');
      const asset = await ctx.db.transaction(async (trx) => {
        const a = await patchAsset(trx, req.params.ref, patch);
        await appendAudit(trx, {
          actor: principalOf(res).userId,
          action: 'asset.changed',
          subjectType: 'asset',
          subjectId: a.id,
          data: { fields: Object.keys(patch) },
        });
        return a;
      });
      res.json(asset);
    });

    router.delete('/:ref', can(ctx, 'inventory.import'), async (req, res) => {
      await ctx.db.transaction(async (trx) => {
        const a = await deleteAsset(trx, req.params.ref);
        await appendAudit(trx, {
          actor: principalOf(res).userId,
          action: 'asset.deleted',
          subjectType: 'asset',
          subjectId: a.id,
          data: { hostname: a.hostname },
        });
      });
      res.status(204).end();
    });
  },
};
