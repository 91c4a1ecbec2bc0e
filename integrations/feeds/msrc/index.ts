import { defineFeed } from '../feed.ts';
import { syncMsrc } from './client.ts';
import { msrcConfigSchema } from './config.ts';
import { parseCvrf } from './parse.ts';

export const msrcFeed = defineFeed({
  id: 'msrc',
  title: 'Microsoft MSRC security updates (CVRF)',
  configSchema: msrcConfigSchema,
  sync: syncMsrc,
  probe: (config) => ({ url: `${config.url}/updates` }),
  importFile: (body) => parseCvrf(body).batch,
});
