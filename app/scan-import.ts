import type { Knex } from 'knex';
import type { Db } from '../db/knex.ts';
import { appendAudit } from '../db/repositories/audit.ts';
import {
  lockFindingsForImport,
  matchHostsToAssets,
  writeScanBatch,
  closeUnreportedFindings,
  type AssetMatch,
  type FindingUpsert,
  type ScannedCve,
} from '../db/repositories/findings.ts';
import type { Logger } from '../kernel/logger.ts';
import { readScanReport, type ScanFormatOption } from '../integrations/kit/scanners/report.ts';
import { compactCopy, SharedStrings } from '../integrations/kit/scanners/xml.ts';
import {
  severityNames,
  type ScanFormat,
  type ScannedFinding,
  type ScannedHost,
  type ScannedHostFacts,
  type ScanReportSink,
} from '../integrations/kit/scanners/types.ts';
import { updateScannedAssets, type ScannedAssetFacts } from '../db/repositories/assets.ts';

type SeverityName = Exclude<(typeof severityNames)[number], 'info'>;

export interface ScanImportSummary {
  /** Distinct hosts in the report, matched or not. */
  hosts: number;
  /** Report items above informational. */
  findings: number;
  /** Distinct CVE ids those findings reference. */
  cves: number;
  bySeverity: Record<SeverityName, number>;
  /** Hosts the report names that match no asset (by hostname, FQDN or IP); their findings are not stored. */
  unmatchedHosts: string[];
  /** Open findings on the scanned hosts that this report no longer lists, now closed as fixed. */
  closed: number;
}

/**
 * Finding rows per batch: large enough to amortise a statement, small enough to keep memory flat.
 * What a batch holds outlives a few of V8's young-generation collections, which copy it into the
 * old generation, and that grows until a full collection; twice as many rows cost 10 MB of peak RSS.
 */
const BATCH_ROWS = 2000;
/**
 * Batches handed to the database and not yet written: one whose statements run, and the next,
 * whose statements are queued behind them, so that Postgres never waits for the parser between
 * batches. Parsing waits once both are out; that keeps memory flat.
 */
const BATCHES_IN_FLIGHT = 2;
const MAX_TITLE = 500;

/** A finding above informational as its batch keeps it: what its rows need, in strings shared across the import. */
type KeptFinding = Omit<FindingUpsert, 'asset_id'> & { hostKey: string };

/** What the parser reported since the last batch was handed to the database. */
interface Batch {
  hosts: ScannedHost[];
  findings: KeptFinding[];
  cves: Map<string, ScannedCve>;
  rows: number;
}
const emptyBatch = (): Batch => ({ hosts: [], findings: [], cves: new Map(), rows: 0 });

/**
 * Collects what the synchronous parser reports and writes it in batches: each batch matches its
 * new hosts to assets, then writes its CVEs and findings in one statement. The transaction's
 * statements run one at a time, in the order they were queued, so a host matched in one batch is
 * known to every later one; after a failure, none runs.
 */
class FindingWriter implements ScanReportSink {
  /** Every host of the report by key; assetId is undefined until matched, null when no asset matches. */
  private readonly hosts = new Map<
    string,
    { label: string; assetId: string | null | undefined; facts?: ScannedHostFacts }
  >();
  private batch = emptyBatch();
  /** CVE ids already sent in this import, each with the one copy that findings share, and whether it went with a CVSS vector (a later item may supply one). */
  private readonly cvesSent = new Map<string, { id: string; withVector: boolean }>();
  /** The copies of plugin names, ids, ports and evidence that kept findings share (their own strings are views into the report's chunks). */
  private readonly strings = new SharedStrings();
  /** Assets matched so far, and those of them that had no findings from this source before the import and none written yet. */
  private readonly assetsSeen = new Set<string>();
  private readonly newAssets = new Set<string>();
  /** Writes of batches in flight, oldest first. */
  private readonly writes: Promise<void>[] = [];
  /** Settles once the last batch handed over has queued its finding rows: batches queue theirs in order. */
  private lastRowsQueued: Promise<void> = Promise.resolve();
  /** The last statement queued; the next one starts when it has succeeded. */
  private lastStatement: Promise<unknown> = Promise.resolve();
  private readonly summary: ScanImportSummary = {
    hosts: 0,
    findings: 0,
    cves: 0,
    bySeverity: { critical: 0, high: 0, medium: 0, low: 0 },
    unmatchedHosts: [],
    closed: 0,
  };

  constructor(
    private readonly db: Knex.Transaction,
    private readonly seenAt: string,
  ) {}

  host(host: ScannedHost): void {
    if (this.hosts.has(host.key)) return;
    this.hosts.set(host.key, { label: host.label, assetId: undefined });
    this.batch.hosts.push(host);
  }

  hostFacts(key: string, facts: ScannedHostFacts): void {
    const host = this.hosts.get(key);
    if (host) host.facts = { ...host.facts, ...facts };
  }

  finding(finding: ScannedFinding): void {
    if (finding.severity === 0) return;
    this.summary.findings += 1;
    this.summary.bySeverity[severityNames[finding.severity] as SeverityName] += 1;
    const withVector = finding.cvssV3Vector !== undefined;
    const cves: string[] = [];
    for (const reported of finding.cves) {
      const sent = this.cvesSent.get(reported);
      const id = sent?.id ?? compactCopy(reported);
      cves.push(id);
      if (sent && (sent.withVector || !withVector)) continue;
      this.cvesSent.set(id, { id, withVector });
      const cvssV3Vector = finding.cvssV3Vector === undefined ? undefined : this.strings.get(finding.cvssV3Vector);
      this.batch.cves.set(id, { id, cvssV3Vector, cvssV3Score: finding.cvssV3Score });
    }
    const evidence: Record<string, string | number> = {};
    for (const name in finding.evidence) {
      const value = finding.evidence[name]!;
      evidence[name] = typeof value === 'string' ? this.strings.get(value) : value;
    }
    this.batch.findings.push({
      hostKey: finding.hostKey,
      plugin_id: this.strings.get(finding.pluginId),
      cve_ids: cves,
      severity: finding.severity,
      title: this.strings.get(finding.title.slice(0, MAX_TITLE)),
      port: finding.port === undefined ? null : this.strings.get(finding.port),
      protocol: finding.protocol === undefined ? null : this.strings.get(finding.protocol),
      evidence,
    });
    this.batch.rows += Math.max(1, cves.length);
  }

  /** Run after each chunk of the report: hands the batch to the database once it is full. */
  async drain(source: ScanFormat | undefined): Promise<void> {
    // Until the root element has named the format there can be no hosts or findings.
    if (source && this.batch.rows >= BATCH_ROWS) await this.startWrite(source);
  }

  private async startWrite(source: ScanFormat): Promise<void> {
    // Rethrows a failed write, which ends the parse.
    if (this.writes.length >= BATCHES_IN_FLIGHT) await this.writes.shift();
    const batch = this.batch;
    this.batch = emptyBatch();
    const earlierRowsQueued = this.lastRowsQueued;
    let rowsQueued = () => {};
    this.lastRowsQueued = new Promise((resolve) => (rowsQueued = resolve));
    // A failed write lets the next batch go on to fail in turn rather than wait forever.
    const write = this.write(source, batch, earlierRowsQueued, rowsQueued).finally(rowsQueued);
    // Observed now so that a failed write is not an unhandled rejection while parsing goes on; `finish` rethrows it.
    write.catch(() => undefined);
    this.writes.push(write);
  }

  /** Queues a statement behind every earlier one; it never runs if an earlier one failed. */
  private queue<T>(statement: () => Promise<T>): Promise<T> {
    const result = this.lastStatement.then(statement);
    this.lastStatement = result;
    // Observed here too, so that a failure nobody else awaits is not an unhandled rejection.
    result.catch(() => undefined);
    return result;
  }

  /** Calls `rowsQueued` once the batch's rows are queued: the next batch queues its rows only then. */
  private async write(
    source: ScanFormat,
    batch: Batch,
    earlierRowsQueued: Promise<void>,
    rowsQueued: () => void,
  ): Promise<void> {
    if (batch.hosts.length > 0)
      this.recordMatches(await this.queue(() => matchHostsToAssets(this.db, batch.hosts, source)));
    await earlierRowsQueued;
    const byAssetPlugin = new Map<string, FindingUpsert>();
    for (const f of batch.findings) {
      const assetId = this.hosts.get(f.hostKey)?.assetId;
      if (!assetId) continue;
      const key = `${assetId} ${f.plugin_id}`;
      const earlier = byAssetPlugin.get(key);
      if (earlier) {
        // The same plugin on several ports of one host is one finding per CVE; keep the worst severity.
        earlier.cve_ids = [...new Set([...earlier.cve_ids, ...f.cve_ids])];
        earlier.severity = Math.max(earlier.severity, f.severity);
        continue;
      }
      byAssetPlugin.set(key, {
        asset_id: assetId,
        plugin_id: f.plugin_id,
        cve_ids: f.cve_ids,
        severity: f.severity,
        title: f.title,
        port: f.port,
        protocol: f.protocol,
        evidence: f.evidence,
      });
    }
    const findingsOfNewAssets: FindingUpsert[] = [];
    const findings: FindingUpsert[] = [];
    for (const row of byAssetPlugin.values())
      (this.newAssets.has(row.asset_id) ? findingsOfNewAssets : findings).push(row);
    // From the next batch on, these assets have rows that a finding may update.
    for (const row of findingsOfNewAssets) this.newAssets.delete(row.asset_id);
    const written = this.queue(() =>
      writeScanBatch(this.db, source, { cves: [...batch.cves.values()], findingsOfNewAssets, findings }, this.seenAt),
    );
    rowsQueued();
    await written;
  }

  /** Records which asset each of a batch's hosts is; an asset is new to the source if it had no findings from it when first matched. */
  private recordMatches(matches: Map<string, AssetMatch | null>): void {
    for (const [key, match] of matches) {
      this.hosts.get(key)!.assetId = match?.id ?? null;
      if (!match || this.assetsSeen.has(match.id)) continue;
      this.assetsSeen.add(match.id);
      if (!match.hasFindings) this.newAssets.add(match.id);
    }
  }

  async finish(source: ScanFormat): Promise<ScanImportSummary> {
    await this.startWrite(source);
    while (this.writes.length > 0) await this.writes.shift();
    this.summary.hosts = this.hosts.size;
    this.summary.cves = this.cvesSent.size;
    this.summary.unmatchedHosts = [...this.hosts.values()].filter((h) => h.assetId === null).map((h) => h.label);
    return this.summary;
  }

  /** The assets the report covered: their findings from this source that it no longer lists are fixed. */
  scannedAssetIds(): string[] {
    return [...this.hosts.values()].flatMap((h) => (h.assetId ? [h.assetId] : []));
  }

  /** What the report says of each covered asset's system. */
  scannedAssets(): ScannedAssetFacts[] {
    return [...this.hosts.values()].flatMap((h) =>
      h.assetId ? [{ assetId: h.assetId, os: h.facts?.os, osCpe: h.facts?.osCpe, mac: h.facts?.mac }] : [],
    );
  }

  /** Waits for writes still running, so that a failed import rolls back only after them. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.writes);
  }
}

export interface ScanImportOptions {
  format: ScanFormatOption;
  actor: string;
  logger?: Logger | undefined;
}

/**
 * Imports a Nessus or OpenVAS report as it streams in, in one transaction: a report that turns
 * out malformed halfway through leaves the database exactly as it was.
 */
export async function importScanReport(
  db: Db,
  body: AsyncIterable<Uint8Array>,
  options: ScanImportOptions,
): Promise<ScanImportSummary> {
  return (await importScan(db, body, options)).summary;
}

export interface ScanImport {
  summary: ScanImportSummary;
  format: ScanFormat;
  /** The time the import marked what it saw: last_seen of every reported finding, first_seen of new ones, fixed_at of closed ones. */
  seenAt: string;
  /** The assets the report covered. */
  assetIds: string[];
}

/** importScanReport, telling also which assets the report covered and when it saw them (verification diffs by these). */
export async function importScan(
  db: Db,
  body: AsyncIterable<Uint8Array>,
  options: ScanImportOptions,
): Promise<ScanImport> {
  return db.transaction(async (trx) => {
    await lockFindingsForImport(trx);
    const seenAt = new Date().toISOString();
    const writer = new FindingWriter(trx, seenAt);
    let summary: ScanImportSummary;
    let format: ScanFormat;
    try {
      format = await readScanReport(body, { format: options.format, sink: writer, afterChunk: (f) => writer.drain(f) });
      summary = await writer.finish(format);
    } finally {
      await writer.settle();
    }
    summary.closed = await closeUnreportedFindings(trx, format, writer.scannedAssetIds(), seenAt);
    await updateScannedAssets(trx, writer.scannedAssets(), seenAt);
    if (summary.unmatchedHosts.length > 0) {
      options.logger?.warn('scan report names hosts that are not in the inventory; their findings were not stored', {
        count: summary.unmatchedHosts.length,
        hosts: summary.unmatchedHosts.slice(0, 20),
      });
    }
    const { unmatchedHosts, ...counts } = summary;
    await appendAudit(trx, {
      actor: options.actor,
      action: 'scan.imported',
      subjectType: 'scan',
      subjectId: format,
      data: { ...counts, unmatchedHosts: unmatchedHosts.length },
    });
    return { summary, format, seenAt, assetIds: writer.scannedAssetIds() };
  });
}
