/**
 * Configuration Manager's administration service (AdminService) on 127.0.0.1, over HTTPS only, as
 * the service itself listens (it presents the site's self-signed certificate by default):
 * https://learn.microsoft.com/en-us/mem/configmgr/develop/adminservice/set-up
 *
 * Routes, OData v4 JSON (https://learn.microsoft.com/en-us/mem/configmgr/develop/adminservice/usage):
 * - GET  wmi/<Class>[?$filter&$select]  → `{ "@odata.context": ".../wmi/$metadata#<Class>", "value": [...] }`;
 *   class names are case-sensitive, as the usage page warns.
 * - GET  wmi/<Class>(<key>)             → the same collection shape with one row, as real clients read it
 *   (joshburkard/MECMAdminService New-CMASCollection, iancohn-recipes McmApiBase read `.value`).
 * - POST wmi/<Class>                    → creates an instance: 201 with the instance (microsoft/configmgr-hub
 *   samples/CommonFunctions.ps1 New-CMCollection posts the properties as JSON).
 * - POST wmi/<Class>('<key>')/AdminService.<Method> → an instance method as a bound action
 *   (MECMAdminService Invoke-CMASCollectionUpdate); only SMS_SoftwareUpdatesPackage.AddUpdateContent here.
 * - DELETE wmi/<Class>(<key>)           → 204.
 * - GET  v1.0/Device                    → MachineId, Name, Domain, ClientActiveStatus.
 * Every property in a body, $select or $filter must be one the SMS Provider reference gives the class
 * (the tables below, each with its page); anything else is refused with 400 and OData's own wording
 * ("The property 'X' does not exist on type 'AdminService.<Class>'. Make sure to only use property
 * names that are defined by the type.", "Could not find a property named 'X' on type …"), in the
 * OData JSON error format `{"error":{"code":"","message":…}}`. A field report of a real site
 * (CB 2509) has the AdminService answer 400 for a property an action does not define. So posting
 * AssignedUpdateGroup (a property of SMS_UpdateGroupAssignment) to SMS_UpdatesAssignment fails here
 * as it does there.
 *
 * Behaviour behind the classes:
 * - Content: each update has one content (SMS_CIToContent); packages hold content
 *   (SMS_PackageToContent); a package reaches a distribution point once it is assigned to it
 *   (SMS_DistributionPoint) and the summarizer (SMS_PackageStatusDistPointsSummarizer.State:
 *   0 INSTALLED, 1 INSTALL_PENDING, 3 INSTALL_FAILED, 7 CONTENT_UPDATING) has run; every summarizer
 *   read is one distribution manager cycle.
 * - Clients act on a deployment (SMS_UpdateGroupAssignment, or the older SMS_UpdatesAssignment) at
 *   their next evaluation, and every compliance read (SMS_UpdateComplianceStatus) is one. A client
 *   whose update content is on no distribution point waits for it (state 402/2). A client that needs
 *   a restart reports 402/9 "Pending system restart" with Status 2; SuppressReboot (bit 0
 *   workstations, bit 1 servers, SMS_CIAssignmentBaseClass) keeps it there, otherwise it restarts at
 *   the next evaluation and reports 402/10 with Status 3.
 *   https://learn.microsoft.com/en-us/mem/configmgr/core/plan-design/hierarchy/state-messages
 * - Auth: the SMS Provider speaks Windows integrated auth and challenges with `WWW-Authenticate:
 *   Negotiate` and `NTLM`; Basic with the configured credentials stands for a front that does that
 *   Windows auth (the only scheme the connector has so far), and is challenged for too.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { HttpEmulator } from './http-emulator.ts';

type Row = Record<string, unknown>;

const reference = 'https://learn.microsoft.com/en-us/mem/configmgr/develop/reference';

/** CIAssignment properties both deployment classes share (SMS_CIAssignmentBaseClass and the two class pages). */
const assignmentProperties = [
  'ApplyToSubTargets',
  'AssignedCIs',
  'AssignmentAction',
  'AssignmentDescription',
  'AssignmentID',
  'AssignmentName',
  'AssignmentType',
  'AssignmentUniqueID',
  'ContainsExpiredUpdates',
  'CreationTime',
  'DesiredConfigType',
  'DisableMomAlerts',
  'DPLocality',
  'Enabled',
  'EnforcementDeadline',
  'EvaluationSchedule',
  'ExpirationTime',
  'LastModificationTime',
  'LastModifiedBy',
  'LimitStateMessageVerbosity',
  'LocaleID',
  'LogComplianceToWinEvent',
  'NonComplianceCriticality',
  'NotifyUser',
  'OverrideServiceWindows',
  'RaiseMomAlertsOnFailure',
  'RandomizationEnabled',
  'RebootOutsideOfServiceWindows',
  'SendDetailedNonComplianceStatus',
  'SourceSite',
  'StartTime',
  'StateMessagePriority',
  'StateMessageVerbosity',
  'SuppressReboot',
  'TargetCollectionID',
  'UseBranchCache',
  'UseGMTTimes',
  'UserUIExperience',
  'WoLEnabled',
];

/** The classes served, each with the reference page its properties are taken from. */
const classes: Record<string, { doc: string; properties: readonly string[] }> = {
  SMS_Site: {
    doc: `${reference}/core/servers/configure/sms_site-server-wmi-class`,
    properties: ['BuildNumber', 'ReportingSiteCode', 'ServerName', 'SiteCode', 'SiteName', 'Status', 'Type', 'Version'],
  },
  SMS_R_System: {
    doc: `${reference}/core/clients/manage/sms_r_system-server-wmi-class`,
    properties: [
      'Active',
      'Client',
      'ClientType',
      'ClientVersion',
      'IPAddresses',
      'Name',
      'NetbiosName',
      'OperatingSystemNameandVersion',
      'ResourceDomainORWorkgroup',
      'ResourceId',
      'ResourceNames',
      'ResourceType',
      'SMSUniqueIdentifier',
    ],
  },
  SMS_Collection: {
    doc: `${reference}/core/clients/collections/sms_collection-server-wmi-class`,
    properties: [
      'CollectionID',
      'CollectionType',
      'Comment',
      'LimitToCollectionID',
      'MemberCount',
      'Name',
      'RefreshType',
    ],
  },
  SMS_FullCollectionMembership: {
    doc: `${reference}/core/clients/collections/sms_fullcollectionmembership-server-wmi-class`,
    properties: ['CollectionID', 'Domain', 'IsClient', 'IsDirect', 'Name', 'ResourceID', 'ResourceType', 'SiteCode'],
  },
  SMS_SoftwareUpdate: {
    doc: `${reference}/sum/sms_softwareupdate-server-wmi-class`,
    properties: [
      'ArticleID',
      'BulletinID',
      'CI_ID',
      'CI_UniqueID',
      'CIType_ID',
      'DatePosted',
      'IsBundle',
      'IsContentProvisioned',
      'IsDeployable',
      'IsDeployed',
      'IsExpired',
      'IsLatest',
      'IsSuperseded',
      'LocalizedDisplayName',
      'LocalizedInformativeURL',
      'Severity',
      'Size',
    ],
  },
  SMS_AuthorizationList: {
    doc: `${reference}/sum/sms_authorizationlist-server-wmi-class`,
    properties: [
      'CI_ID',
      'CI_UniqueID',
      'CIType_ID',
      'ContainsExpiredUpdates',
      'ContainsSupersededUpdates',
      'DateCreated',
      'IsDeployed',
      'IsProvisioned',
      'LocalizedDescription',
      'LocalizedDisplayName',
      'LocalizedInformation',
      'NumberOfCollectionsDeployed',
      'NumberOfUpdates',
      'Updates',
    ],
  },
  SMS_UpdateGroupAssignment: {
    doc: `${reference}/sum/sms_updategroupassignment-server-wmi-class`,
    properties: [...assignmentProperties, 'AssignedUpdateGroup'],
  },
  SMS_UpdatesAssignment: {
    doc: `${reference}/sum/sms_updatesassignment-server-wmi-class`,
    properties: assignmentProperties,
  },
  SMS_UpdateComplianceStatus: {
    doc: `${reference}/sum/sms_updatecompliancestatus-server-wmi-class`,
    properties: [
      'ArticleID',
      'BulletinID',
      'CI_ID',
      'EnforcementSource',
      'LastEnforcementMessageID',
      'LastEnforcementMessageName',
      'LastEnforcementMessageTime',
      'LastStatusChangeTime',
      'LastStatusCheckTime',
      'MachineID',
      'Status',
    ],
  },
  SMS_CIToContent: {
    doc: `${reference}/sum/sms_citocontent-server-wmi-class`,
    properties: ['CI_ID', 'CI_UniqueID', 'ContentDownloaded', 'ContentID', 'ContentLocales', 'ContentUniqueID'],
  },
  SMS_PackageToContent: {
    doc: `${reference}/core/servers/configure/sms_packagetocontent-server-wmi-class`,
    properties: ['ContentID', 'ContentSubFolder', 'ContentUniqueID', 'ContentVersionInPkg', 'PackageID', 'PackageType'],
  },
  SMS_SoftwareUpdatesPackage: {
    doc: `${reference}/sum/sms_softwareupdatespackage-server-wmi-class`,
    properties: [
      'ActionInProgress',
      'Description',
      'Language',
      'Manufacturer',
      'Name',
      'PackageID',
      'PackageSize',
      'PackageType',
      'PkgFlags',
      'PkgSourceFlag',
      'PkgSourcePath',
      'Priority',
      'SourceDate',
      'SourceSite',
      'SourceVersion',
      'Version',
    ],
  },
  SMS_DistributionPoint: {
    doc: `${reference}/core/servers/configure/sms_distributionpoint-server-wmi-class`,
    properties: [
      'LastRefreshTime',
      'ObjectTypeID',
      'PackageID',
      'PackageType',
      'RefreshNow',
      'ServerNALPath',
      'SiteCode',
      'SiteName',
      'SourceSite',
      'Status',
    ],
  },
  SMS_DistributionPointGroup: {
    doc: `${reference}/core/servers/configure/sms_distributionpointgroup-server-wmi-class`,
    properties: ['ContentCount', 'Description', 'GroupID', 'HasMember', 'MemberCount', 'Name', 'SourceSite'],
  },
  SMS_DPGroupMembers: {
    doc: `${reference}/core/servers/configure/sms_dpgroupmembers-server-wmi-class`,
    properties: ['DPNALPath', 'GroupID'],
  },
  SMS_PackageStatusDistPointsSummarizer: {
    doc: `${reference}/core/servers/configure/sms_packagestatusdistpointssummarizer-server-wmi-class`,
    properties: [
      'LastCopied',
      'PackageID',
      'PackageType',
      'ServerNALPath',
      'SiteCode',
      'SourceNALPath',
      'SourceVersion',
      'State',
      'SummaryDate',
    ],
  },
};

/** The [key] property of the classes whose instances are addressed one by one. */
const keys: Record<string, string> = {
  SMS_R_System: 'ResourceId',
  SMS_Collection: 'CollectionID',
  SMS_SoftwareUpdate: 'CI_ID',
  SMS_AuthorizationList: 'CI_ID',
  SMS_UpdateGroupAssignment: 'AssignmentID',
  SMS_UpdatesAssignment: 'AssignmentID',
  SMS_SoftwareUpdatesPackage: 'PackageID',
  SMS_DistributionPointGroup: 'GroupID',
};

/** Parameters of the instance methods served as bound actions (AddUpdateContent in class SMS_SoftwareUpdatesPackage). */
const actions: Record<string, { className: string; parameters: readonly string[] }> = {
  AddUpdateContent: {
    className: 'SMS_SoftwareUpdatesPackage',
    parameters: ['ContentIDs', 'ContentSourcePath', 'bRefreshDPs'],
  },
};

const enforcement = {
  waitingForContent: [2, 'Enforcement waiting for content'],
  pendingInstallation: [7, 'Pending installation'],
  pendingRestart: [9, 'Pending system restart'],
  installed: [10, 'Successfully installed update'],
  failed: [11, 'Failed to install the update'],
} as const;

const tlsDir = new URL('../fixtures/nessus-api/tls/', import.meta.url);

interface Device {
  ResourceId: number;
  Name: string;
  Domain: string;
  IPAddresses: string[];
  kind: 'server' | 'workstation';
  installed: Set<number>;
  failed: Set<number>;
  pendingRestart: Set<number>;
  failInstall: boolean;
  needsRestart: boolean;
}

interface DistributionPoint {
  server: string;
  nalPath: string;
  failing: boolean;
}

interface Package {
  row: Row;
  content: Set<number>;
}

export interface SccmEmulatorOptions {
  username: string;
  password: string;
  evaluationsBeforeInstall?: number;
  /** Summarizer reads before a package assigned to a distribution point reports there. */
  distributionCycles?: number;
}

class ODataError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const notDefined = (property: string, className: string) =>
  new ODataError(
    400,
    `The property '${property}' does not exist on type 'AdminService.${className}'. Make sure to only use property names that are defined by the type.`,
  );

export class SccmEmulator extends HttpEmulator {
  hostChanges = 0;
  /** Every request as it arrived, the JSON body parsed. */
  readonly requests: { method: string; path: string; body?: unknown }[] = [];
  private readonly rows = new Map<string, Row[]>(Object.keys(classes).map((c) => [c, []]));
  private readonly devices: Device[] = [];
  private readonly collections: { CollectionID: string; Name: string; members: Set<number> }[] = [
    { CollectionID: 'SMS00001', Name: 'All Systems', members: new Set() },
  ];
  private readonly packages = new Map<string, Package>();
  private readonly distributionPoints: DistributionPoint[] = [];
  private readonly distribution = new Map<string, { state: number; reads: number }>();
  private readonly evaluations = new Map<string, number>();
  private tls: https.Server | undefined;
  private nextId = 16_777_300;
  private nextPackage = 0x100100;

  constructor(private readonly opts: SccmEmulatorOptions) {
    super('/AdminService');
  }

  /** Starts the service behind an HTTPS front with the test-only certificate for 127.0.0.1. */
  override async start(): Promise<this> {
    await super.start();
    const backend = new URL(this.url);
    this.tls = https.createServer(
      { key: readFileSync(new URL('test-only-127.0.0.1.key.pem', tlsDir)), cert: readFileSync(this.certFile) },
      (req, res) => {
        const upstream = http.request(
          { host: backend.hostname, port: backend.port, path: req.url, method: req.method, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        req.pipe(upstream);
      },
    );
    await new Promise<void>((resolve) => this.tls!.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.tls.address() as AddressInfo).port}/AdminService`;
    return this;
  }

  override async close(): Promise<void> {
    if (this.tls) {
      this.tls.closeAllConnections();
      await new Promise<void>((resolve) => this.tls!.close(() => resolve()));
    }
    await super.close();
  }

  /** The PEM file of the certificate the HTTPS front presents, for the connector's caFile. */
  get certFile(): string {
    return new URL('test-only-127.0.0.1.cert.pem', tlsDir).pathname;
  }

  addUpdate(articleId: string, title: string): number {
    const CI_ID = this.nextId++;
    const CI_UniqueID = randomUUID();
    this.table('SMS_SoftwareUpdate').push({
      CI_ID,
      CI_UniqueID,
      CIType_ID: 8,
      ArticleID: articleId,
      BulletinID: '',
      LocalizedDisplayName: title,
      IsDeployable: true,
      IsDeployed: false,
      IsExpired: false,
      IsSuperseded: false,
      IsLatest: true,
    });
    this.table('SMS_CIToContent').push({
      CI_ID,
      CI_UniqueID,
      ContentID: this.nextId++,
      ContentUniqueID: randomUUID(),
      ContentDownloaded: true,
      ContentLocales: ['Locale:0'],
    });
    return CI_ID;
  }

  addCollection(id: string, name: string): void {
    this.collections.push({ CollectionID: id, Name: name, members: new Set() });
  }

  addDevice(
    name: string,
    opts: {
      domain?: string;
      ip?: string;
      collections?: string[];
      kind?: 'server' | 'workstation';
      failInstall?: boolean;
      needsRestart?: boolean;
    } = {},
  ): void {
    const d: Device = {
      ResourceId: 16_777_000 + this.devices.length,
      Name: name.toUpperCase(),
      Domain: opts.domain ?? 'CORP',
      IPAddresses: [opts.ip ?? '10.1.0.1'],
      kind: opts.kind ?? 'server',
      installed: new Set(),
      failed: new Set(),
      pendingRestart: new Set(),
      failInstall: opts.failInstall ?? false,
      needsRestart: opts.needsRestart ?? false,
    };
    this.devices.push(d);
    for (const c of ['SMS00001', ...(opts.collections ?? [])])
      this.collections.find((x) => x.CollectionID === c)!.members.add(d.ResourceId);
  }

  /** A distribution point of site PS1; a `failing` one never gets content (INSTALL_FAILED). */
  addDistributionPoint(server: string, opts: { failing?: boolean } = {}): string {
    const nalPath = `["Display=\\\\${server}\\"]MSWNET:["SMS_SITE=PS1"]\\\\${server}\\`;
    this.distributionPoints.push({ server, nalPath, failing: opts.failing ?? false });
    return nalPath;
  }

  addDistributionPointGroup(name: string, servers: string[]): void {
    const GroupID = `{${randomUUID().toUpperCase()}}`;
    this.table('SMS_DistributionPointGroup').push({
      GroupID,
      Name: name,
      Description: '',
      MemberCount: servers.length,
      HasMember: servers.length > 0,
      SourceSite: 'PS1',
    });
    for (const s of servers) this.table('SMS_DPGroupMembers').push({ GroupID, DPNALPath: this.dp(s).nalPath });
  }

  /** A software updates package holding the content of these articles, already on these distribution points. */
  addPackage(
    packageId: string,
    name: string,
    opts: { articles?: string[]; onDistributionPoints?: string[] } = {},
  ): void {
    this.createPackage({
      PackageID: packageId,
      Name: name,
      PkgSourcePath: `\\\\cm01\\sources\\${packageId}`,
      PkgSourceFlag: 2,
    });
    for (const a of opts.articles ?? [])
      for (const id of this.contentOfArticle(a)) this.packages.get(packageId)!.content.add(id);
    for (const s of opts.onDistributionPoints ?? []) {
      this.assign(packageId, this.dp(s).nalPath);
      this.distribution.set(`${packageId}|${this.dp(s).nalPath}`, { state: 0, reads: 0 });
    }
  }

  /** Rows of a class as a test inspects them (deployments, packages, distribution points). */
  instances(className: keyof typeof classes): Row[] {
    return this.table(className);
  }

  packageContent(packageId: string): number[] {
    return [...(this.packages.get(packageId)?.content ?? [])];
  }

  contentOfArticle(articleId: string): number[] {
    const cis = this.table('SMS_SoftwareUpdate')
      .filter((u) => u['ArticleID'] === articleId)
      .map((u) => u['CI_ID']);
    return this.table('SMS_CIToContent')
      .filter((c) => cis.includes(c['CI_ID']))
      .map((c) => c['ContentID'] as number);
  }

  isInstalled(name: string, articleId: string): boolean {
    return this.hasState(name, articleId, (d) => d.installed);
  }

  isPendingRestart(name: string, articleId: string): boolean {
    return this.hasState(name, articleId, (d) => d.pendingRestart);
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
    const text = raw.toString('utf8');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    this.requests.push({ method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, body });
    if (
      req.headers.authorization !==
      `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64')}`
    ) {
      res.writeHead(401, { 'www-authenticate': ['Negotiate', 'NTLM', 'Basic realm="AdminService"'] }).end();
      return;
    }
    if (typeof body === 'string') return void send(400, odataError('The request body is not valid JSON.'));
    try {
      const answer = this.route(req.method ?? 'GET', decodeURIComponent(url.pathname), url, body);
      send(answer.status, answer.body);
    } catch (err) {
      if (!(err instanceof ODataError)) throw err;
      send(err.status, odataError(err.message));
    }
  }

  private route(method: string, pathname: string, url: URL, body: unknown): { status: number; body?: unknown } {
    if (pathname === '/AdminService/v1.0/Device' && method === 'GET')
      return {
        status: 200,
        body: {
          '@odata.context': `${this.url}/v1.0/$metadata#Device`,
          value: this.devices.map((d) => ({
            MachineId: d.ResourceId,
            Name: d.Name,
            Domain: d.Domain,
            ClientActiveStatus: 1,
          })),
        },
      };
    const m = /^\/AdminService\/wmi\/([A-Za-z_]+)(?:\((\d+|'(?:[^']|'')*')\))?(?:\/AdminService\.([A-Za-z]+))?$/.exec(
      pathname,
    );
    const className = m?.[1];
    if (!m || !className || !classes[className])
      throw new ODataError(
        404,
        `No HTTP resource was found that matches the request URI '${this.url}${pathname.slice(13)}'.`,
      );
    const key = m[2]?.startsWith("'") ? m[2].slice(1, -1).replace(/''/g, "'") : m[2] ? Number(m[2]) : undefined;
    const context = `${this.url}/wmi/$metadata#${className}`;
    const fields = (body ?? {}) as Row;
    if (m[3]) {
      if (method !== 'POST' || key === undefined) throw new ODataError(405, `${method} is not supported on ${m[3]}`);
      return { status: 200, body: this.invoke(className, m[3], key, fields) };
    }
    if (method === 'POST') {
      if (key !== undefined) throw new ODataError(405, 'POST is not supported on an instance');
      for (const p of Object.keys(fields))
        if (!classes[className].properties.includes(p)) throw notDefined(p, className);
      return { status: 201, body: { '@odata.context': `${context}/$entity`, ...this.create(className, fields) } };
    }
    const keyProperty = keys[className];
    if (method === 'DELETE') {
      const rows = this.table(className);
      const at = rows.findIndex((r) => keyProperty !== undefined && r[keyProperty] === key);
      if (key === undefined || at < 0 || !className.endsWith('Assignment'))
        throw new ODataError(404, `No instance of ${className} has the key ${String(key)}`);
      rows.splice(at, 1);
      return { status: 204 };
    }
    if (method !== 'GET') throw new ODataError(405, `${method} is not supported on ${className}`);
    const rows = className === 'SMS_UpdateComplianceStatus' ? this.complianceRows(url) : this.readRows(className);
    const keyed = key === undefined ? rows : rows.filter((r) => keyProperty !== undefined && r[keyProperty] === key);
    if (key !== undefined && keyed.length === 0)
      throw new ODataError(404, `No instance of ${className} has the key ${key}`);
    return { status: 200, body: { '@odata.context': context, value: query(className, keyed, url) } };
  }

  private create(className: string, fields: Row): Row {
    switch (className) {
      case 'SMS_AuthorizationList': {
        const updates = Array.isArray(fields['Updates']) ? (fields['Updates'] as number[]) : [];
        const info = Array.isArray(fields['LocalizedInformation']) ? (fields['LocalizedInformation'] as Row[]) : [];
        if (!info[0]?.['DisplayName'] || updates.length === 0)
          throw new ODataError(400, 'LocalizedInformation.DisplayName and Updates are required.');
        const group = {
          CI_ID: this.nextId++,
          CI_UniqueID: `ScopeId_PS1/AuthList_${randomUUID()}`,
          CIType_ID: 9,
          LocalizedDisplayName: String(info[0]['DisplayName']),
          LocalizedDescription: String(info[0]['Description'] ?? ''),
          Updates: updates,
          NumberOfUpdates: updates.length,
          IsDeployed: false,
        };
        this.table(className).push(group);
        return group;
      }
      case 'SMS_UpdateGroupAssignment':
      case 'SMS_UpdatesAssignment':
        return this.createAssignment(className, fields);
      case 'SMS_SoftwareUpdatesPackage': {
        if (
          !fields['Name'] ||
          typeof fields['PkgSourcePath'] !== 'string' ||
          !fields['PkgSourcePath'].startsWith('\\\\')
        )
          throw new ODataError(400, 'Name and a UNC PkgSourcePath are required.');
        const id = `PS${(this.nextPackage++).toString(16).toUpperCase()}`;
        return this.createPackage({ ...fields, PackageID: id });
      }
      case 'SMS_DistributionPoint': {
        const pkg = this.packages.get(String(fields['PackageID']));
        const dp = this.distributionPoints.find((d) => d.nalPath === fields['ServerNALPath']);
        if (!pkg || !dp || fields['SiteCode'] !== 'PS1')
          throw new ODataError(
            400,
            'PackageID must name a package and ServerNALPath and SiteCode a distribution point.',
          );
        return this.assign(String(fields['PackageID']), dp.nalPath);
      }
      default:
        throw new ODataError(405, `POST is not supported on ${className}`);
    }
  }

  private createAssignment(className: string, fields: Row): Row {
    const cis = Array.isArray(fields['AssignedCIs']) ? (fields['AssignedCIs'] as number[]) : [];
    const collection = this.collections.find((c) => c.CollectionID === fields['TargetCollectionID']);
    if (!collection || cis.length === 0 || !fields['AssignmentName'] || !fields['StartTime'])
      throw new ODataError(
        400,
        'AssignmentName, AssignedCIs, StartTime and an existing TargetCollectionID are required.',
      );
    if (className === 'SMS_UpdateGroupAssignment') {
      const group = this.table('SMS_AuthorizationList').find((g) => g['CI_ID'] === fields['AssignedUpdateGroup']);
      if (!group) throw new ODataError(400, 'AssignedUpdateGroup must be the CI_ID of a software update group.');
      if (cis.some((ci) => !(group['Updates'] as number[]).includes(ci)))
        throw new ODataError(400, 'AssignedCIs must be updates of the AssignedUpdateGroup.');
      group['IsDeployed'] = true;
    }
    const assignment = {
      ...fields,
      AssignmentID: this.nextId++,
      AssignmentUniqueID: `{${randomUUID().toUpperCase()}}`,
      AssignmentType: className === 'SMS_UpdateGroupAssignment' ? 5 : 1,
      Enabled: fields['Enabled'] !== false,
      SuppressReboot: typeof fields['SuppressReboot'] === 'number' ? fields['SuppressReboot'] : 0,
      CreationTime: new Date().toISOString(),
      LocaleID: 1033,
      SourceSite: 'PS1',
    };
    this.table(className).push(assignment);
    return assignment;
  }

  private invoke(className: string, method: string, key: string | number, fields: Row): Row {
    const action = actions[method];
    if (!action || action.className !== className)
      throw new ODataError(404, `No action ${method} is bound to ${className}.`);
    for (const p of Object.keys(fields))
      if (!action.parameters.includes(p))
        throw new ODataError(
          400,
          `The parameter '${p}' in the request payload is not a valid parameter for the operation '${method}'.`,
        );
    const pkg = this.packages.get(String(key));
    if (!pkg) throw new ODataError(404, `No instance of ${className} has the key ${key}`);
    const ids = fields['ContentIDs'];
    const paths = fields['ContentSourcePath'];
    const known = new Set(this.table('SMS_CIToContent').map((c) => c['ContentID']));
    if (
      !Array.isArray(ids) ||
      !Array.isArray(paths) ||
      ids.length === 0 ||
      ids.length !== paths.length ||
      ids.some((id) => !known.has(id)) ||
      paths.some((p) => typeof p !== 'string' || !p.startsWith('\\\\'))
    )
      throw new ODataError(
        400,
        'ContentIDs must name update content and ContentSourcePath give a UNC folder for each.',
      );
    for (const id of ids as number[]) pkg.content.add(id);
    if (fields['bRefreshDPs'] !== false)
      for (const [k, v] of this.distribution) if (k.startsWith(`${key}|`)) Object.assign(v, { state: 7, reads: 0 });
    return { ReturnValue: 0 };
  }

  private readRows(className: string): Row[] {
    switch (className) {
      case 'SMS_Site':
        return [{ SiteCode: 'PS1', SiteName: 'Primary Site 1', Version: '5.00.9128.1000', BuildNumber: 9128 }];
      case 'SMS_R_System':
        return this.devices.map((d) => ({
          ResourceId: d.ResourceId,
          Name: d.Name,
          NetbiosName: d.Name,
          ResourceDomainORWorkgroup: d.Domain,
          ResourceNames: [`${d.Name.toLowerCase()}.${d.Domain.toLowerCase()}.example`],
          IPAddresses: d.IPAddresses,
          OperatingSystemNameandVersion: `Microsoft Windows NT ${d.kind === 'server' ? 'Server' : 'Workstation'} 10.0`,
          Client: 1,
          Active: 1,
        }));
      case 'SMS_Collection':
        return this.collections.map((c) => ({
          CollectionID: c.CollectionID,
          Name: c.Name,
          CollectionType: 2,
          MemberCount: c.members.size,
        }));
      case 'SMS_FullCollectionMembership':
        return this.collections.flatMap((c) =>
          [...c.members].map((id) => ({
            CollectionID: c.CollectionID,
            ResourceID: id,
            Name: this.devices.find((d) => d.ResourceId === id)!.Name,
          })),
        );
      case 'SMS_PackageToContent':
        return [...this.packages].flatMap(([PackageID, p]) =>
          [...p.content].map((ContentID) => ({ PackageID, ContentID, PackageType: 5 })),
        );
      case 'SMS_PackageStatusDistPointsSummarizer':
        return this.summarize();
      default:
        return this.table(className);
    }
  }

  /** One distribution manager cycle: assigned packages move on towards their distribution points. */
  private summarize(): Row[] {
    const rows: Row[] = [];
    for (const [k, v] of this.distribution) {
      const [PackageID, ServerNALPath] = k.split('|') as [string, string];
      if (v.state !== 0 && v.state !== 3 && ++v.reads >= (this.opts.distributionCycles ?? 1))
        v.state = this.distributionPoints.find((d) => d.nalPath === ServerNALPath)!.failing ? 3 : 0;
      rows.push({ PackageID, ServerNALPath, SiteCode: 'PS1', PackageType: 5, State: v.state });
    }
    return rows;
  }

  /** Compliance as clients report it; a read is an evaluation cycle for the devices it covers. */
  private complianceRows(url: URL): Row[] {
    const filter = parseFilter('SMS_UpdateComplianceStatus', url.searchParams.get('$filter') ?? '');
    const rows: Row[] = [];
    for (const d of this.devices) {
      for (const u of this.table('SMS_SoftwareUpdate')) {
        const ci = u['CI_ID'] as number;
        const row = { CI_ID: ci, MachineID: d.ResourceId, ArticleID: u['ArticleID'] };
        if (!filter(row)) continue;
        const deployments = this.deploymentsOf(ci, d);
        const available = this.contentAvailable(ci);
        if (d.pendingRestart.has(ci) && !deployments.some((a) => suppresses(a, d))) {
          d.pendingRestart.delete(ci);
          d.installed.add(ci);
        }
        const pending =
          deployments.length > 0 && !d.installed.has(ci) && !d.failed.has(ci) && !d.pendingRestart.has(ci);
        if (pending && available) {
          const key = `${d.ResourceId}|${ci}`;
          const seen = (this.evaluations.get(key) ?? 0) + 1;
          this.evaluations.set(key, seen);
          if (seen > (this.opts.evaluationsBeforeInstall ?? 1)) {
            this.hostChanges++;
            if (d.failInstall) d.failed.add(ci);
            else if (d.needsRestart) d.pendingRestart.add(ci);
            else d.installed.add(ci);
          }
        }
        const [id, name] = d.installed.has(ci)
          ? enforcement.installed
          : d.pendingRestart.has(ci)
            ? enforcement.pendingRestart
            : d.failed.has(ci)
              ? enforcement.failed
              : deployments.length === 0
                ? [0, '']
                : available
                  ? enforcement.pendingInstallation
                  : enforcement.waitingForContent;
        rows.push({
          ...row,
          BulletinID: '',
          Status: d.installed.has(ci) ? 3 : 2,
          LastEnforcementMessageID: id,
          LastEnforcementMessageName: name,
          EnforcementSource: deployments.length ? 1 : 0,
        });
      }
    }
    return rows;
  }

  private deploymentsOf(ci: number, d: Device): Row[] {
    return [...this.table('SMS_UpdateGroupAssignment'), ...this.table('SMS_UpdatesAssignment')].filter(
      (a) =>
        a['Enabled'] !== false &&
        (a['AssignedCIs'] as number[]).includes(ci) &&
        this.collections.find((c) => c.CollectionID === a['TargetCollectionID'])?.members.has(d.ResourceId),
    );
  }

  /** Whether the update's content is in a package that some distribution point has (INSTALLED). */
  private contentAvailable(ci: number): boolean {
    const content = this.table('SMS_CIToContent')
      .filter((c) => c['CI_ID'] === ci)
      .map((c) => c['ContentID'] as number);
    return content.every((id) =>
      [...this.packages].some(
        ([pid, p]) =>
          p.content.has(id) && [...this.distribution].some(([k, v]) => k.startsWith(`${pid}|`) && v.state === 0),
      ),
    );
  }

  private createPackage(fields: Row): Row {
    const row: Row = {
      Description: '',
      ...fields,
      PackageType: 5,
      SourceSite: 'PS1',
      SourceVersion: 1,
      SourceDate: new Date().toISOString(),
    };
    this.table('SMS_SoftwareUpdatesPackage').push(row);
    this.packages.set(String(row['PackageID']), { row, content: new Set() });
    return row;
  }

  private assign(packageId: string, nalPath: string): Row {
    const rows = this.table('SMS_DistributionPoint');
    const existing = rows.find((r) => r['PackageID'] === packageId && r['ServerNALPath'] === nalPath);
    if (existing) return existing;
    const row = {
      PackageID: packageId,
      ServerNALPath: nalPath,
      SiteCode: 'PS1',
      PackageType: 5,
      ObjectTypeID: 24,
      Status: 2,
    };
    rows.push(row);
    this.distribution.set(`${packageId}|${nalPath}`, { state: 1, reads: 0 });
    return row;
  }

  private dp(server: string): DistributionPoint {
    const dp = this.distributionPoints.find((d) => d.server === server);
    if (!dp) throw new Error(`no distribution point ${server}; add it first`);
    return dp;
  }

  private table(className: string): Row[] {
    return this.rows.get(className)!;
  }

  private hasState(name: string, articleId: string, set: (d: Device) => Set<number>): boolean {
    const d = this.devices.find((x) => x.Name.toLowerCase() === name.split('.')[0]!.toLowerCase());
    return (
      !!d &&
      this.table('SMS_SoftwareUpdate').some((u) => u['ArticleID'] === articleId && set(d).has(u['CI_ID'] as number))
    );
  }
}

/** SuppressReboot bit 0 keeps workstations from restarting, bit 1 servers. */
function suppresses(assignment: Row, d: Device): boolean {
  const bits = Number(assignment['SuppressReboot'] ?? 0);
  return (bits & (d.kind === 'workstation' ? 1 : 2)) !== 0;
}

function odataError(message: string) {
  return { error: { code: '', message } };
}

/** `$filter` then `$select`, each property checked against the class. */
function query(className: string, rows: Row[], url: URL): Row[] {
  const filter = parseFilter(className, url.searchParams.get('$filter') ?? '');
  const select = url.searchParams
    .get('$select')
    ?.split(',')
    .map((s) => s.trim());
  for (const p of select ?? []) if (!classes[className]!.properties.includes(p)) throw unknownProperty(p, className);
  return rows.filter(filter).map((r) => (select ? Object.fromEntries(select.map((k) => [k, r[k] ?? null])) : r));
}

const unknownProperty = (property: string, className: string) =>
  new ODataError(400, `Could not find a property named '${property}' on type 'AdminService.${className}'.`);

/** OData `$filter` restricted to `Prop eq literal` terms joined by `and` (binds tighter) and `or`. */
function parseFilter(className: string, filter: string): (row: Row) => boolean {
  if (!filter.trim()) return () => true;
  const alternatives = splitOutsideQuotes(filter, ' or ').map((alt) =>
    splitOutsideQuotes(alt, ' and ').map((term) => {
      const m = /^\s*([A-Za-z_]+)\s+eq\s+('(?:[^']|'')*'|-?\d+|true|false)\s*$/.exec(term);
      if (!m)
        throw new ODataError(400, `The query specified in the URI is not valid. Syntax error near '${term.trim()}'.`);
      const property = m[1]!;
      if (!classes[className]!.properties.includes(property)) throw unknownProperty(property, className);
      const raw = m[2]!;
      const value = raw.startsWith("'")
        ? raw.slice(1, -1).replace(/''/g, "'")
        : raw === 'true'
          ? true
          : raw === 'false'
            ? false
            : Number(raw);
      return { property, value };
    }),
  );
  return (row) =>
    alternatives.some((all) =>
      all.every(({ property, value }) => {
        const actual = row[property];
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
