import type { z } from 'zod';
import type { ConnectorDefinition } from './contract/connector.ts';
import { ConnectorRegistry } from './contract/registry.ts';
import { ansibleConnector } from './ansible/index.ts';
import { awxConnector } from './awx/index.ts';
import { vsphereConnector } from './backups/vsphere/index.ts';
import { csafFeed } from './feeds/csaf/index.ts';
import { epssFeed } from './feeds/epss/index.ts';
import { kevFeed } from './feeds/kev/index.ts';
import { msrcFeed } from './feeds/msrc/index.ts';
import { nvdFeed } from './feeds/nvd/index.ts';
import { jiraSmConnector } from './jira-sm/index.ts';
import { openvasConnector } from './openvas/index.ts';
import { nessusConnector } from './nessus/index.ts';
import { pdqConnector } from './pdq/index.ts';
import { sccmConnector } from './sccm/index.ts';
import { serviceNowConnector } from './servicenow/index.ts';
import { simulatorConnector } from './simulator/index.ts';
import { slackConnector } from './slack/index.ts';
import { teamsConnector } from './teams/index.ts';
import { wsusConnector } from './wsus/index.ts';

/** Every connector Patchflow ships, one line each. A duplicate id fails at start-up. */
export const connectorDefinitions: ConnectorDefinition<z.ZodType>[] = [
  ansibleConnector,
  kevFeed,
  epssFeed,
  nvdFeed,
  msrcFeed,
  csafFeed,
  wsusConnector,
  awxConnector,
  sccmConnector,
  pdqConnector,
  simulatorConnector,
  slackConnector,
  teamsConnector,
  serviceNowConnector,
  jiraSmConnector,
  openvasConnector,
  nessusConnector,
  vsphereConnector,
];

export function createConnectorRegistry(): ConnectorRegistry {
  return new ConnectorRegistry(connectorDefinitions);
}
