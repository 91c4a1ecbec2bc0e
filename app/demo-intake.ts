import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { seedDemoRecords } from '../demo/seed.ts';
import type { ConnectorRegistry } from '../integrations/contract/registry.ts';
import { importFeedFile, type FeedRunResult } from './feeds.ts';
import { importScanReport, type ScanImportSummary } from './scan-import.ts';

const intakeDir = fileURLToPath(new URL('../demo/intake/', import.meta.url));

export interface DemoIntake {
  scan: ScanImportSummary;
  kev: FeedRunResult;
  epss: FeedRunResult;
}

/**
 * The demo's intake, through the same importers a real scan and real feeds go through: a Nessus
 * report of the demo hosts, then KEV and EPSS facts for the CVEs it found. Re-running it only
 * moves last-seen times.
 */
export async function seedDemoIntake(db: Knex, registry: ConnectorRegistry): Promise<DemoIntake> {
  await seedDemoRecords(db);
  const scan = await importScanReport(db, createReadStream(path.join(intakeDir, 'demo-scan.nessus')), {
    format: 'nessus',
    actor: 'demo',
  });
  const kev = await importFeedFile(db, registry, 'kev', readFileSync(path.join(intakeDir, 'kev-excerpt.json')));
  const epss = await importFeedFile(db, registry, 'epss', readFileSync(path.join(intakeDir, 'epss-demo.csv')));
  return { scan, kev, epss };
}
