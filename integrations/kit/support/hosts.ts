import type { DeployTarget, HostOutcome, HostResult } from '../../contract/index.ts';

/** Hostnames compare case-insensitively; vendors store NetBIOS names, FQDNs or both. */
export function hostKey(hostname: string): string {
  return hostname.trim().toLowerCase();
}

function shortName(hostname: string): string {
  return hostKey(hostname).split('.')[0] ?? '';
}

/**
 * Finds a vendor's record for a target: the exact name first, then the short name when exactly
 * one record has it (so `web1` finds `web1.corp.example` but never guesses between two domains).
 */
export class HostIndex<T> {
  private readonly exact = new Map<string, T>();
  private readonly byShort = new Map<string, T[]>();

  constructor(records: readonly T[], names: (record: T) => (string | undefined)[]) {
    for (const r of records) {
      for (const name of names(r)) {
        if (!name) continue;
        this.exact.set(hostKey(name), r);
        const list = this.byShort.get(shortName(name)) ?? [];
        if (!list.includes(r)) list.push(r);
        this.byShort.set(shortName(name), list);
      }
    }
  }

  find(hostname: string): T | undefined {
    const exact = this.exact.get(hostKey(hostname));
    if (exact) return exact;
    const candidates = this.byShort.get(shortName(hostname)) ?? [];
    return candidates.length === 1 ? candidates[0] : undefined;
  }
}

/** The requested targets without repeats (same hostname, any case), in request order. */
export function distinctTargets(targets: readonly DeployTarget[]): DeployTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const k = hostKey(t.hostname);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function hostResult(
  target: DeployTarget,
  outcome: HostOutcome,
  message: string,
  evidence?: Record<string, unknown>,
): HostResult {
  return { hostname: target.hostname, outcome, message, ...(evidence ? { evidence } : {}) };
}

/** Names that vendors accept as a host and that cannot smuggle in a pattern, an option or a second value. */
export function isPlainHostname(hostname: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}))*$/.test(hostname);
}

/** One result per distinct requested host, in request order; a host nothing was decided for is failed, never dropped. */
export function inRequestOrder(targets: readonly DeployTarget[], decided: readonly HostResult[]): HostResult[] {
  const byHost = new Map(decided.map((r) => [hostKey(r.hostname), r]));
  return distinctTargets(targets).map(
    (t) => byHost.get(hostKey(t.hostname)) ?? hostResult(t, 'failed', 'no result was produced for this host'),
  );
}

/** A requested host and the vendor's record of it. */
export interface Resolved<T> {
  target: DeployTarget;
  record: T;
}

/** Matches the distinct targets to vendor records; a host the vendor does not know is unreachable, with the vendor's words for why. */
export function resolveTargets<T>(
  targets: readonly DeployTarget[],
  index: HostIndex<T>,
  unknownMessage: (target: DeployTarget) => string,
): { resolved: Resolved<T>[]; unknown: HostResult[] } {
  const resolved: Resolved<T>[] = [];
  const unknown: HostResult[] = [];
  for (const target of distinctTargets(targets)) {
    const record = index.find(target.hostname);
    if (record) resolved.push({ target, record });
    else unknown.push(hostResult(target, 'unreachable', unknownMessage(target)));
  }
  return { resolved, unknown };
}
