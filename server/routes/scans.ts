import { can, principalOf } from '../authentication.ts';
import { z } from 'zod';
import { importScanReport } from '../../app/scan-import.ts';
import { scanFormatOptionSchema } from '../../integrations/kit/scanners/report.ts';
import { InputError } from '../../kernel/errors.ts';
import { parseInput } from '../../kernel/validate.ts';
import { requestChunks, withRequestBody } from '../request-body.ts';
import type { RouteModule } from './types.ts';

const importQuerySchema = z.object({ format: scanFormatOptionSchema.default('auto') }).strict();

/** Scanner report intake: the XML body streams straight into the importer, never buffered whole. */
export const scanRoutes: RouteModule = {
  path: '/scans',
  register(router, ctx) {
    router.post('/import', can(ctx, 'scans.import'), async (req, res) => {
      const { format } = parseInput(importQuerySchema, req.query, 'scan import query');
      // express.json() consumes a body sent as application/json before this handler runs.
      if (req.body !== undefined)
        throw new InputError('a scan report is Nessus or OpenVAS XML, not JSON', [
          { path: ['body'], message: 'expected XML' },
        ]);
      const maxBytes = ctx.settings.scanImportMaxBytes;
      const summary = await withRequestBody(req, maxBytes, () =>
        importScanReport(ctx.db, requestChunks(req, maxBytes, 'the scan report'), {
          format,
          actor: principalOf(res).userId,
          logger: ctx.logger,
        }),
      );
      res.json(summary);
    });
  },
};
