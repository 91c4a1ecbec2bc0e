import { defineFeed } from '../feed.ts';
import { probeUrl, syncCsaf } from './client.ts';
import { csafConfigSchema } from './config.ts';
import { parseCsaf } from './parse.ts';

export const csafFeed = defineFeed({
  id: 'csaf',
  title: 'CSAF 2.0 provider (Red Hat, Cisco, BSI, …)',
  configSchema: csafConfigSchema,
  sync: syncCsaf,
  probe: (config) => ({ url: probeUrl(config) }),
  importFile: parseCsaf,
});
