import { defineFeed } from '../feed.ts';
import { syncEpss } from './client.ts';
import { epssConfigSchema } from './config.ts';
import { parseEpss } from './parse.ts';

export const epssFeed = defineFeed({
  id: 'epss',
  title: 'FIRST EPSS exploit prediction scores',
  configSchema: epssConfigSchema,
  sync: syncEpss,
  probe: (config) => ({ url: config.url }),
  importFile: (body) => parseEpss(body).batch,
});
