import { defineFeed } from '../feed.ts';
import { apiKeyHeader, syncNvd } from './client.ts';
import { nvdConfigSchema } from './config.ts';
import { parseCveFile } from './parse.ts';

export const nvdFeed = defineFeed({
  id: 'nvd',
  title: 'NVD CVE API 2.0 (imports NVD pages and CVE JSON 5 records)',
  configSchema: nvdConfigSchema,
  sync: syncNvd,
  probe: (config) => ({ url: `${config.url}?resultsPerPage=1`, headers: apiKeyHeader(config) }),
  importFile: parseCveFile,
});
