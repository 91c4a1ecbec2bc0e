/** One CVE's facts as a feed knows them; absent fields leave what other feeds stored untouched. */
export interface CveUpsert {
  id: string;
  description?: string | undefined;
  published?: string | undefined;
  lastModified?: string | undefined;
  cvssV3Vector?: string | undefined;
  cvssV3Score?: number | undefined;
  cvssV4Vector?: string | undefined;
  cvssV4Score?: number | undefined;
  epss?: number | undefined;
  epssPercentile?: number | undefined;
  epssDate?: string | undefined;
  kev?:
    { dateAdded: string; dueDate?: string | undefined; ransomware: boolean; notes?: string | undefined } | undefined;
}

export interface AdvisoryUpsert {
  id: string;
  source: string;
  vendor?: string | undefined;
  title: string;
  severity?: string | undefined;
  published?: string | undefined;
  url?: string | undefined;
  cves: string[];
  /** Patches (KBs, fixed package versions) the advisory names as remediation. */
  remediations: { vendorRef: string; title: string; product?: string | undefined; url?: string | undefined }[];
  data: Record<string, unknown>;
}

export interface AdvisoryBatch {
  cves: CveUpsert[];
  advisories: AdvisoryUpsert[];
}

/** Conditional-request and paging state kept between syncs (feed_state table). */
export interface FeedSyncState {
  etag?: string | undefined;
  lastModified?: string | undefined;
  cursor?: string | undefined;
}

export interface AdvisoryFeed {
  /** Fetches what changed since `state`; `notModified` when the source says nothing changed. */
  sync(
    state: FeedSyncState,
    signal?: AbortSignal,
  ): Promise<{ notModified: boolean; state: FeedSyncState; batch: AdvisoryBatch }>;
}
