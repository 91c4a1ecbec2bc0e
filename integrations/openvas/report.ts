import {
  cveIds,
  cvssScore,
  firstMac,
  hostIdentifiers,
  type ScannedHostFacts,
  type ScanReportSink,
  type Severity,
} from '../kit/scanners/types.ts';
import { detached, type XmlElementHandler, type XmlPosition } from '../kit/scanners/xml.ts';

/**
 * OpenVAS / Greenbone GMP report XML: report > report > results > result*, then report-level
 * host summaries. Results are not grouped by host, so each result names its host (by IP) and
 * is handed over as soon as it closes.
 */
export const openvasRootElements: readonly string[] = ['report', 'get_reports_response'];

/** Elements below a `<result>` whose text is read; paths are relative to the result. */
const resultTextPaths = new Set([
  'name',
  'host',
  'host/hostname',
  'port',
  'threat',
  'severity',
  'qod/value',
  'nvt/name',
  'nvt/cve',
  'nvt/severities/severity/value',
  'nvt/severities/severity/score',
  'nvt/solution',
]);
/** Elements below a report-level `<host>` whose text is read. */
const hostTextPaths = new Set(['ip', 'detail/name', 'detail/value']);

interface ResultState {
  depth: number;
  text: Map<string, string>;
  oid?: string | undefined;
  cves: string[];
  /** True inside a `<severity type="cvss_base_v3…">` of the NVT, whose value is a CVSS v3 vector. */
  inCvssV3: boolean;
}
interface HostSummaryState {
  depth: number;
  ip: string;
  names: string[];
  detailName: string;
  facts: ScannedHostFacts;
}

/** Threat labels of reports that carry no numeric severity. */
const severityByThreat: Record<string, Severity> = { critical: 4, high: 3, medium: 2, low: 1 };

/** GMP severities are CVSS scores; Patchflow's levels follow the CVSS v3 qualitative bands. */
function severityOfScore(score: number): Severity {
  if (score <= 0) return 0;
  if (score < 4) return 1;
  if (score < 7) return 2;
  return score < 9 ? 3 : 4;
}

export function openvasReportHandler(sink: ScanReportSink, position: XmlPosition): XmlElementHandler {
  const path: string[] = [];
  let result: ResultState | undefined;
  let hostSummary: HostSummaryState | undefined;
  const below = (depth: number) => path.slice(depth + 1).join('/');

  return {
    open(name, attributes) {
      const parent = path[path.length - 1];
      path.push(name);
      if (result) {
        const rel = below(result.depth);
        if (rel === 'nvt') result.oid = detached(attributes['oid']?.trim() ?? '') || undefined;
        else if (rel === 'nvt/refs/ref' && attributes['type']?.toLowerCase() === 'cve')
          result.cves.push(...cveIds(detached(attributes['id'] ?? '')));
        else if (rel === 'nvt/severities/severity')
          result.inCvssV3 = (attributes['type'] ?? '').startsWith('cvss_base_v3');
        return resultTextPaths.has(rel);
      }
      if (hostSummary) return hostTextPaths.has(below(hostSummary.depth));
      // Only results directly in <results>: a <delta> or note nests other <result> elements that are not findings of this report.
      if (name === 'result' && parent === 'results')
        result = { depth: path.length - 1, text: new Map(), cves: [], inCvssV3: false };
      else if (name === 'host' && parent === 'report')
        hostSummary = { depth: path.length - 1, ip: '', names: [], detailName: '', facts: {} };
      return false;
    },
    close(name, text) {
      if (result) {
        const rel = below(result.depth);
        path.pop();
        if (rel === '') {
          emitResult(result);
          result = undefined;
        } else if (rel === 'nvt/cve') {
          result.cves.push(...cveIds(text));
        } else if (rel.startsWith('nvt/severities/severity/')) {
          if (result.inCvssV3) result.text.set(rel, text.trim());
        } else if (resultTextPaths.has(rel)) {
          result.text.set(rel, text.trim());
        }
        return;
      }
      if (hostSummary) {
        const rel = below(hostSummary.depth);
        path.pop();
        if (rel === 'ip') hostSummary.ip = text.trim();
        else if (rel === 'detail/name') hostSummary.detailName = text.trim();
        else if (rel === 'detail/value' && hostSummary.detailName === 'hostname') hostSummary.names.push(text);
        else if (rel === 'detail/value' && hostSummary.detailName === 'best_os_txt')
          hostSummary.facts.os = detached(text.trim());
        else if (rel === 'detail/value' && hostSummary.detailName === 'best_os_cpe')
          hostSummary.facts.osCpe = detached(text.trim());
        else if (rel === 'detail/value' && hostSummary.detailName === 'MAC') hostSummary.facts.mac = firstMac(text);
        else if (rel === '') {
          if (hostSummary.ip) {
            sink.host({
              key: hostSummary.ip,
              label: hostSummary.ip,
              ...hostIdentifiers([hostSummary.ip, ...hostSummary.names]),
            });
            const { os, osCpe, mac } = hostSummary.facts;
            if (os || osCpe || mac) sink.hostFacts?.(hostSummary.ip, hostSummary.facts);
          }
          hostSummary = undefined;
        }
        return;
      }
      path.pop();
    },
  };

  function emitResult(r: ResultState): void {
    const t = (p: string) => r.text.get(p) ?? '';
    const ip = t('host');
    if (!ip) throw position.fail('<result> names no host');
    if (!r.oid) throw position.fail('<result> has no <nvt oid="…">');
    const hostname = t('host/hostname');
    sink.host({ key: ip, label: ip, ...hostIdentifiers([ip, hostname]) });
    const score = Number.parseFloat(t('severity'));
    const threat = t('threat');
    // Real reports can carry an empty threat label; the numeric severity is what counts.
    const severity = Number.isFinite(score) ? severityOfScore(score) : (severityByThreat[threat.toLowerCase()] ?? 0);
    const [port, protocol] = t('port').split('/', 2);
    sink.finding({
      hostKey: ip,
      pluginId: r.oid,
      title: t('name') || t('nvt/name') || `OpenVAS NVT ${r.oid}`,
      severity,
      cves: [...new Set(r.cves)],
      cvssV3Vector: t('nvt/severities/severity/value') || undefined,
      cvssV3Score: cvssScore(r.text.get('nvt/severities/severity/score')),
      port: port || undefined,
      protocol: protocol || undefined,
      evidence: Object.fromEntries(
        Object.entries({
          threat,
          score: Number.isFinite(score) ? score : undefined,
          qod: t('qod/value'),
          // Greenbone's remediation fact: the solution names the KBs that fix a Windows finding ("Install KB5073457").
          mskb: kbsIn(t('nvt/solution')),
        }).filter(([, v]) => v !== undefined && v !== ''),
      ) as Record<string, string | number>,
    });
  }
}

/** The Microsoft KB numbers a text names, as `KB5073457 KB5073379`; undefined when it names none. */
function kbsIn(text: string): string | undefined {
  const kbs = [...new Set((text.match(/\bKB ?\d{6,8}\b/gi) ?? []).map((kb) => `KB${kb.replace(/\D/g, '')}`))];
  return kbs.length ? kbs.join(' ') : undefined;
}
