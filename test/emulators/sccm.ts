/**
 * Configuration Manager's administration service (AdminService) on 127.0.0.1: OData v4 JSON over
 * the WMI route (/AdminService/wmi/<Class>) and the versioned route (/AdminService/v1.0/Device).
 * Classes and properties as the SMS Provider reference documents them:
 * - SMS_SoftwareUpdate (CI_ID, ArticleID, LocalizedDisplayName, IsDeployable, IsExpired, IsSuperseded)
 *   https://learn.microsoft.com/en-us/mem/configmgr/develop/reference/sum/sms_softwareupdate-server-wmi-class
 * - SMS_AuthorizationList, a software update group (CI_ID, LocalizedDisplayName, LocalizedInformation, Updates)
 *   https://learn.microsoft.com/en-us/mem/configmgr/develop/reference/sum/sms_authorizationlist-server-wmi-class
 * - SMS_UpdatesAssignment, a deployment (AssignmentID, AssignmentName, AssignedCIs, TargetCollectionID, Enabled …)
 *   https://learn.microsoft.com/en-us/mem/configmgr/develop/reference/sum/sms_updatesassignment-server-wmi-class
 * - SMS_UpdateComplianceStatus (CI_ID, MachineID, Status 0 unknown / 1 not required / 2 required /
 *   3 installed, LastEnforcementMessageID from state topic 402: 6 = general failure)
 *   https://learn.microsoft.com/en-us/mem/configmgr/develop/reference/sum/sms_updatecompliancestatus-server-wmi-class
 *   https://learn.microsoft.com/en-us/mem/configmgr/core/plan-design/hierarchy/state-messages
 * - SMS_R_System, SMS_Collection, SMS_FullCollectionMembership, SMS_Site; v1.0 Device (MachineId, Name)
 *   https://learn.microsoft.com/en-us/mem/configmgr/develop/adminservice/release-notes
 * Query options: $filter with `eq` joined by `and`/`or` (and binds tighter), $select. POST to a
 * class creates an instance (201 with the instance); DELETE Class(key) removes one.
 * Clients act on a deployment at their next evaluation: every compliance read counts as one.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { HttpEmulator } from './http-emulator.ts';

type Row = Record<string, unknown>;

interface Device {
  ResourceId: number;
  Name: string;
  Domain: string;
  IPAddresses: string[];
  OS: string;
  installed: Set<number>;
  failed: Set<number>;
  failInstall: boolean;
}

export interface SccmEmulatorOptions {
  username: string;
  password: string;
  evaluationsBeforeInstall?: number;
}

export class SccmEmulator extends HttpEmulator {
  hostChanges = 0;
  readonly requests: { method: string; path: string }[] = [];
  readonly assignments: Row[] = [];
  readonly updateGroups: Row[] = [];
  private readonly devices: Device[] = [];
  private readonly updates: Row[] = [];
  private readonly collections: { CollectionID: string; Name: string; members: Set<number> }[] = [
    { CollectionID: 'SMS00001', Name: 'All Systems', members: new Set() },
  ];
  private readonly evaluations = new Map<string, number>();
  private nextId = 16_777_300;

  constructor(private readonly opts: SccmEmulatorOptions) {
    super('/AdminService');
  }

  addUpdate(articleId: string, title: string): number {
    const CI_ID = this.nextId++;
    this.updates.push({
      CI_ID,
      ArticleID: articleId,
      LocalizedDisplayName: title,
      IsDeployable: true,
      IsExpired: false,
      IsSuperseded: false,
      BulletinID: '',
      CI_UniqueID: `${CI_ID}-uid`,
    });
    return CI_ID;
  }

  addCollection(id: string, name: string): void {
    this.collections.push({ CollectionID: id, Name: name, members: new Set() });
  }

  addDevice(
    name: string,
    opts: { domain?: string; ip?: string; collections?: string[]; failInstall?: boolean } = {},
  ): void {
    const d: Device = {
      ResourceId: 16_777_000 + this.devices.length,
      Name: name.toUpperCase(),
      Domain: opts.domain ?? 'CORP',
      IPAddresses: [opts.ip ?? '10.1.0.1'],
      OS: 'Microsoft Windows NT Server 10.0',
      installed: new Set(),
      failed: new Set(),
      failInstall: opts.failInstall ?? false,
    };
    this.devices.push(d);
    for (const c of ['SMS00001', ...(opts.collections ?? [])])
      this.collections.find((x) => x.CollectionID === c)!.members.add(d.ResourceId);
  }

  isInstalled(name: string, articleId: string): boolean {
    const d = this.devices.find((x) => x.Name.toLowerCase() === name.split('.')[0]!.toLowerCase());
    return !!d && this.updates.some((u) => u['ArticleID'] === articleId && d.installed.has(u['CI_ID'] as number));
  }

  protected override failureBody() {
    return {
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'InternalServerError', message: 'The SMS Provider is not available.' } }),
    };
  }

  protected handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const send = (status: number, body?: unknown) => {
      if (body === undefined) res.writeHead(status).end();
      else
        res.writeHead(status, { 'content-type': 'application/json; odata.metadata=minimal' }).end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? 'GET', path: `${url.pathname}${url.search}` });
    if (
      req.headers.authorization !==
      `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64')}`
    ) {
      res.writeHead(401, { 'www-authenticate': 'Negotiate' }).end();
      return;
    }
    const m = /^\/AdminService\/(wmi|v1\.0)\/([A-Za-z_]+)(?:\((\d+)\))?$/.exec(url.pathname);
    if (!m)
      return void send(404, {
        error: {
          code: 'NotFound',
          message: `No HTTP resource was found that matches the request URI '${url.pathname}'.`,
        },
      });
    const [, route, name, key] = m as unknown as [string, string, string, string | undefined];
    const context = `${this.url}/${route}/$metadata#${name}`;
    if (route === 'v1.0') {
      if (name !== 'Device' || req.method !== 'GET')
        return void send(404, { error: { code: 'NotFound', message: 'Unknown entity set' } });
      return void send(200, {
        '@odata.context': context,
        value: this.query(
          this.devices.map((d) => ({ MachineId: d.ResourceId, Name: d.Name, Domain: d.Domain, ClientActiveStatus: 1 })),
          url,
        ),
      });
    }
    const className = name.toUpperCase();
    let body: Row = {};
    if (req.method === 'POST') {
      try {
        body = JSON.parse(raw.toString('utf8')) as Row;
      } catch {
        return void send(400, { error: { code: 'BadRequest', message: 'The request body is not valid JSON.' } });
      }
    }
    if (className === 'SMS_AUTHORIZATIONLIST' && req.method === 'POST') {
      const updates = Array.isArray(body['Updates']) ? (body['Updates'] as number[]) : [];
      const info = Array.isArray(body['LocalizedInformation']) ? (body['LocalizedInformation'] as Row[]) : [];
      if (!info[0]?.['DisplayName'] || updates.length === 0)
        return void send(400, {
          error: { code: 'BadRequest', message: 'LocalizedInformation.DisplayName and Updates are required.' },
        });
      const group = {
        CI_ID: this.nextId++,
        LocalizedDisplayName: String(info[0]['DisplayName']),
        LocalizedDescription: String(info[0]['Description'] ?? ''),
        Updates: updates,
        IsDeployed: false,
      };
      this.updateGroups.push(group);
      return void send(201, { '@odata.context': `${context}/$entity`, ...group });
    }
    if (className === 'SMS_UPDATESASSIGNMENT' && req.method === 'POST') {
      const cis = Array.isArray(body['AssignedCIs']) ? (body['AssignedCIs'] as number[]) : [];
      const collection = this.collections.find((c) => c.CollectionID === body['TargetCollectionID']);
      if (!collection || cis.length === 0 || !body['AssignmentName'])
        return void send(400, {
          error: {
            code: 'BadRequest',
            message: 'AssignmentName, AssignedCIs and an existing TargetCollectionID are required.',
          },
        });
      const assignment = {
        ...body,
        AssignmentID: this.nextId++,
        AssignmentUniqueID: `{${randomUUID().toUpperCase()}}`,
        Enabled: body['Enabled'] !== false,
      };
      this.assignments.push(assignment);
      for (const g of this.updateGroups)
        if ((g['Updates'] as number[]).some((u) => cis.includes(u))) g['IsDeployed'] = true;
      return void send(201, { '@odata.context': `${context}/$entity`, ...assignment });
    }
    if (className === 'SMS_UPDATESASSIGNMENT' && req.method === 'DELETE' && key) {
      const at = this.assignments.findIndex((a) => a['AssignmentID'] === Number(key));
      if (at < 0) return void send(404, { error: { code: 'NotFound', message: 'Instance not found' } });
      this.assignments.splice(at, 1);
      return void send(204);
    }
    if (req.method !== 'GET')
      return void send(405, {
        error: { code: 'MethodNotAllowed', message: `${req.method} is not supported on ${name}` },
      });
    const rows = this.rowsOf(className, url);
    if (rows === undefined)
      return void send(404, { error: { code: 'NotFound', message: `Invalid class name '${name}'` } });
    if (key) {
      const keyed = rows.find((r) => Object.values(r)[0] === Number(key));
      return keyed
        ? void send(200, { '@odata.context': `${context}/$entity`, ...keyed })
        : void send(404, { error: { code: 'NotFound', message: 'Instance not found' } });
    }
    try {
      send(200, { '@odata.context': context, value: this.query(rows, url) });
    } catch (err) {
      send(400, { error: { code: 'BadRequest', message: (err as Error).message } });
    }
  }

  private rowsOf(className: string, url: URL): Row[] | undefined {
    switch (className) {
      case 'SMS_SITE':
        return [{ SiteCode: 'PS1', SiteName: 'Primary Site 1', Version: '5.00.9128.1000' }];
      case 'SMS_SOFTWAREUPDATE':
        return this.updates;
      case 'SMS_AUTHORIZATIONLIST':
        return this.updateGroups;
      case 'SMS_UPDATESASSIGNMENT':
        return this.assignments;
      case 'SMS_R_SYSTEM':
        return this.devices.map((d) => ({
          ResourceId: d.ResourceId,
          Name: d.Name,
          NetbiosName: d.Name,
          ResourceDomainORWorkgroup: d.Domain,
          ResourceNames: [`${d.Name.toLowerCase()}.${d.Domain.toLowerCase()}.example`],
          IPAddresses: d.IPAddresses,
          OperatingSystemNameandVersion: d.OS,
          Client: 1,
          Active: 1,
        }));
      case 'SMS_COLLECTION':
        return this.collections.map((c) => ({
          CollectionID: c.CollectionID,
          Name: c.Name,
          CollectionType: 2,
          MemberCount: c.members.size,
        }));
      case 'SMS_FULLCOLLECTIONMEMBERSHIP':
        return this.collections.flatMap((c) =>
          [...c.members].map((id) => ({
            CollectionID: c.CollectionID,
            ResourceID: id,
            Name: this.devices.find((d) => d.ResourceId === id)!.Name,
          })),
        );
      case 'SMS_UPDATECOMPLIANCESTATUS':
        return this.complianceRows(url);
      default:
        return undefined;
    }
  }

  /** Compliance as clients report it; a read is an evaluation cycle for the devices it covers. */
  private complianceRows(url: URL): Row[] {
    const filter = url.searchParams.get('$filter') ?? '';
    const rows: Row[] = [];
    for (const d of this.devices) {
      for (const u of this.updates) {
        const ci = u['CI_ID'] as number;
        const row = () => ({
          CI_ID: ci,
          MachineID: d.ResourceId,
          ArticleID: u['ArticleID'],
          Status: 0,
          LastEnforcementMessageID: 0,
        });
        if (!matches(row(), filter)) continue;
        const deployed = this.assignments.some(
          (a) =>
            a['Enabled'] !== false &&
            (a['AssignedCIs'] as number[]).includes(ci) &&
            this.collections.find((c) => c.CollectionID === a['TargetCollectionID'])?.members.has(d.ResourceId),
        );
        if (deployed && !d.installed.has(ci) && !d.failed.has(ci)) {
          const key = `${d.ResourceId}|${ci}`;
          const seen = (this.evaluations.get(key) ?? 0) + 1;
          this.evaluations.set(key, seen);
          if (seen > (this.opts.evaluationsBeforeInstall ?? 1)) {
            this.hostChanges++;
            if (d.failInstall) d.failed.add(ci);
            else d.installed.add(ci);
          }
        }
        const status = d.installed.has(ci) ? 3 : 2;
        rows.push({
          ...row(),
          Status: status,
          LastEnforcementMessageID: d.failed.has(ci) ? 6 : d.installed.has(ci) ? 0 : deployed ? 1 : 0,
          LastEnforcementMessageName: d.failed.has(ci) ? 'General failure' : '',
        });
      }
    }
    return rows;
  }

  private query(rows: Row[], url: URL): Row[] {
    const filter = url.searchParams.get('$filter') ?? '';
    const select = url.searchParams
      .get('$select')
      ?.split(',')
      .map((s) => s.trim());
    return rows
      .filter((r) => matches(r, filter))
      .map((r) => (select ? Object.fromEntries(select.map((k) => [k, r[k] ?? null])) : r));
  }
}

/** OData `$filter` restricted to `Prop eq literal` terms joined by `and` (binds tighter) and `or`. */
function matches(row: Row, filter: string): boolean {
  if (!filter.trim()) return true;
  const terms = splitOutsideQuotes(filter, ' or ').map((alt) => splitOutsideQuotes(alt, ' and '));
  return terms.some((all) =>
    all.every((term) => {
      const m = /^\s*([A-Za-z_]+)\s+eq\s+('(?:[^']|'')*'|-?\d+|true|false)\s*$/.exec(term);
      if (!m) throw new Error(`The query specified in the URI is not valid. Syntax error near '${term.trim()}'.`);
      const raw = m[2]!;
      const value = raw.startsWith("'")
        ? raw.slice(1, -1).replace(/''/g, "'")
        : raw === 'true'
          ? true
          : raw === 'false'
            ? false
            : Number(raw);
      const key = Object.keys(row).find((k) => k.toLowerCase() === m[1]!.toLowerCase());
      const actual = key === undefined ? undefined : row[key];
      return typeof value === 'string' && typeof actual === 'string'
        ? actual.toLowerCase() === value.toLowerCase()
        : actual === value;
    }),
  );
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "'") quoted = !quoted;
    else if (!quoted && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
