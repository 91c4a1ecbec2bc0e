import { defineFeed } from '../feed.ts';
import { syncKev } from './client.ts';
import { kevConfigSchema } from './config.ts';
import { parseKevCatalog } from './parse.ts';

export const kevFeed = defineFeed({
  id: 'kev',
  title: 'CISA Known Exploited Vulnerabilities catalog',
  configSchema: kevConfigSchema,
  sync: syncKev,
  probe: (config) => ({ url: config.url }),
  importFile: (body) => parseKevCatalog(body).batch,
});
