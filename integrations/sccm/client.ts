import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { z } from 'zod';
import { NotFoundError, UpstreamError } from '../../kernel/errors.ts';
import { errorForStatus } from '../kit/support/http.ts';
import type { AdminServiceAnswer, AdminServiceAuth, AdminServiceRequest } from './auth.ts';

/**
 * The AdminService calls the connector makes: the WMI route (`/AdminService/wmi/<Class>`, one
 * class of the SMS Provider per entity set) and the versioned route (`/v1.0/Device`), OData v4
 * JSON, every answer validated. Class and property names are the SMS Provider reference's
 * (learn.microsoft.com/mem/configmgr/develop/reference/); instance methods are bound actions,
 * `wmi/<Class>('<key>')/AdminService.<Method>`, as Microsoft's configmgr-hub samples call them.
 *
 * A created instance is read back by its name rather than taken from the POST answer, whose
 * shape the reference does not give; Patchflow names what it creates, so the name finds it.
 *
 * The transport is node:https (not the kit's fetch-based `sendHttp`) for a CA of its own — the
 * AdminService presents the site's self-signed certificate — and a keep-alive agent, which
 * Windows integrated auth needs: NTLM authenticates the connection, not the request.
 */

const collection = <S extends z.ZodType>(row: S) =>
  z.object({ value: z.array(row), '@odata.nextLink': z.string().optional() });

export const systemSchema = z.object({
  ResourceId: z.number(),
  Name: z.string(),
  ResourceNames: z.array(z.string()).nullable().optional(),
  IPAddresses: z.array(z.string()).nullable().optional(),
  OperatingSystemNameandVersion: z.string().nullable().optional(),
});
export type SmsSystem = z.infer<typeof systemSchema>;

export const softwareUpdateSchema = z.object({
  CI_ID: z.number(),
  ArticleID: z.string(),
  LocalizedDisplayName: z.string(),
  IsDeployable: z.boolean(),
});
export type SoftwareUpdate = z.infer<typeof softwareUpdateSchema>;

export const complianceSchema = z.object({
  CI_ID: z.number(),
  MachineID: z.number(),
  /** 0 unknown, 1 not required, 2 required, 3 installed. */
  Status: z.number().int().min(0).max(3),
  /** The last state message of topic 402 (software update enforcement), e.g. 9 "Pending system restart". */
  LastEnforcementMessageID: z.number().nullable().optional(),
  LastEnforcementMessageName: z.string().nullable().optional(),
});
export type ComplianceRow = z.infer<typeof complianceSchema>;

const updateGroupSchema = z.object({ CI_ID: z.number(), LocalizedDisplayName: z.string() });
export const assignmentSchema = z.object({
  AssignmentID: z.number(),
  AssignmentName: z.string(),
  TargetCollectionID: z.string(),
  AssignedUpdateGroup: z.number(),
  SuppressReboot: z.number(),
});
export type UpdateGroupAssignment = z.infer<typeof assignmentSchema>;
const memberSchema = z.object({ CollectionID: z.string(), ResourceID: z.number() });
const collectionSchema = z.object({ CollectionID: z.string(), Name: z.string() });
const deviceSchema = z.object({ MachineId: z.number(), Name: z.string() });
const ciContentSchema = z.object({ CI_ID: z.number(), ContentID: z.number() });
const packageContentSchema = z.object({ PackageID: z.string(), ContentID: z.number() });
export const updatesPackageSchema = z.object({ PackageID: z.string(), Name: z.string(), PkgSourcePath: z.string() });
export type UpdatesPackage = z.infer<typeof updatesPackageSchema>;
const dpGroupSchema = z.object({ GroupID: z.string(), Name: z.string() });
const dpGroupMemberSchema = z.object({ GroupID: z.string(), DPNALPath: z.string() });
const packageDpSchema = z.object({ PackageID: z.string(), ServerNALPath: z.string(), Status: z.number() });
export const distributionStatusSchema = z.object({
  PackageID: z.string(),
  ServerNALPath: z.string(),
  /** 0 INSTALLED, 1 INSTALL_PENDING, 2 INSTALL_RETRYING, 3 INSTALL_FAILED, 4–6 removal, 7 CONTENT_UPDATING, 8 CONTENT_MONITORING. */
  State: z.number().int(),
});
export type DistributionStatus = z.infer<typeof distributionStatusSchema>;

/** An OData string literal: single quotes doubled. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** `Prop eq v1 or Prop eq v2 …`, so that one query fetches a batch. */
function anyOf(property: string, values: readonly (string | number)[]): string {
  return values.map((v) => `${property} eq ${typeof v === 'number' ? v : odataString(v)}`).join(' or ');
}

/** Terms joined with `or`, at most `size` per query, so that URLs stay short. */
function batches<T>(items: readonly T[], size = 20): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The message of an OData error body (`{"error":{"code":…,"message":…}}`), else the text itself. */
function odataErrorDetail(text: string): string {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string' && message) return message;
  } catch {
    // not JSON: a proxy's page or plain text
  }
  return text.slice(0, 300);
}

/** Node's codes for a certificate it cannot verify: retrying does not help, trusting the right CA does. */
const untrustedCertificate = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export interface AdminServiceClientOptions {
  url: string;
  auth: AdminServiceAuth;
  /** PEM certificates to trust besides the system's roots. */
  ca?: string | undefined;
  timeoutMs: number;
}

export class AdminServiceClient {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly opts: AdminServiceClientOptions) {
    this.base = new URL(opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ...(opts.ca ? { ca: [...rootCertificates, opts.ca] } : {}) })
        : new http.Agent({ keepAlive: true });
  }

  site(signal?: AbortSignal) {
    return this.list(
      'wmi/SMS_Site?$select=SiteCode,SiteName,Version',
      z.object({ SiteCode: z.string(), SiteName: z.string(), Version: z.string() }),
      signal,
    );
  }

  async systemsNamed(names: string[], signal?: AbortSignal): Promise<SmsSystem[]> {
    const out: SmsSystem[] = [];
    for (const batch of batches(names))
      out.push(
        ...(await this.list(
          `wmi/SMS_R_System?$filter=${encodeURIComponent(anyOf('Name', batch))}&$select=ResourceId,Name,ResourceNames,IPAddresses,OperatingSystemNameandVersion`,
          systemSchema,
          signal,
        )),
      );
    return out;
  }

  allSystems(signal?: AbortSignal) {
    return this.list(
      'wmi/SMS_R_System?$select=ResourceId,Name,ResourceNames,IPAddresses,OperatingSystemNameandVersion',
      systemSchema,
      signal,
    );
  }

  devices(signal?: AbortSignal) {
    return this.list('v1.0/Device?$select=MachineId,Name', deviceSchema, signal);
  }

  updatesForArticle(articleId: string, signal?: AbortSignal) {
    const filter = `ArticleID eq ${odataString(articleId)} and IsExpired eq false`;
    return this.list(
      `wmi/SMS_SoftwareUpdate?$filter=${encodeURIComponent(filter)}&$select=CI_ID,ArticleID,LocalizedDisplayName,IsDeployable`,
      softwareUpdateSchema,
      signal,
    );
  }

  members(collectionId: string | undefined, signal?: AbortSignal) {
    const filter = collectionId ? `$filter=${encodeURIComponent(`CollectionID eq ${odataString(collectionId)}`)}&` : '';
    return this.list(`wmi/SMS_FullCollectionMembership?${filter}$select=CollectionID,ResourceID`, memberSchema, signal);
  }

  collections(signal?: AbortSignal) {
    return this.list('wmi/SMS_Collection?$select=CollectionID,Name', collectionSchema, signal);
  }

  async compliance(ciIds: number[], machineIds: number[], signal?: AbortSignal): Promise<ComplianceRow[]> {
    const out: ComplianceRow[] = [];
    for (const ci of ciIds) {
      for (const batch of batches(machineIds)) {
        // `and` binds tighter than `or` in OData, so no parentheses are needed.
        const filter = batch.map((m) => `CI_ID eq ${ci} and MachineID eq ${m}`).join(' or ');
        out.push(
          ...(await this.list(
            `wmi/SMS_UpdateComplianceStatus?$filter=${encodeURIComponent(filter)}&$select=CI_ID,MachineID,Status,LastEnforcementMessageID,LastEnforcementMessageName`,
            complianceSchema,
            signal,
          )),
        );
      }
    }
    return out;
  }

  /** The software update group (SMS_AuthorizationList) of this name, created with these updates if there is none. */
  async findOrCreateUpdateGroup(
    name: string,
    description: string,
    ciIds: number[],
    signal?: AbortSignal,
  ): Promise<number> {
    const find = () =>
      this.list(
        `wmi/SMS_AuthorizationList?$filter=${encodeURIComponent(`LocalizedDisplayName eq ${odataString(name)}`)}&$select=CI_ID,LocalizedDisplayName`,
        updateGroupSchema,
        signal,
      );
    const existing = (await find())[0];
    if (existing) return existing.CI_ID;
    await this.post(
      'wmi/SMS_AuthorizationList',
      { LocalizedInformation: [{ DisplayName: name, Description: description, LocaleID: 1033 }], Updates: ciIds },
      signal,
    );
    return this.created('software update group', name, await find()).CI_ID;
  }

  /** Deployments of software update groups (SMS_UpdateGroupAssignment) of this name. */
  findAssignments(name: string, signal?: AbortSignal) {
    return this.list(
      `wmi/SMS_UpdateGroupAssignment?$filter=${encodeURIComponent(`AssignmentName eq ${odataString(name)}`)}&$select=AssignmentID,AssignmentName,TargetCollectionID,AssignedUpdateGroup,SuppressReboot`,
      assignmentSchema,
      signal,
    );
  }

  createAssignment(body: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    return this.post('wmi/SMS_UpdateGroupAssignment', body, signal);
  }

  deleteAssignment(id: number, signal?: AbortSignal): Promise<void> {
    return this.delete('SMS_UpdateGroupAssignment', `wmi/SMS_UpdateGroupAssignment(${id})`, signal);
  }

  /** The content (files) of each software update, SMS_CIToContent. */
  async contentOf(ciIds: number[], signal?: AbortSignal) {
    const out: z.output<typeof ciContentSchema>[] = [];
    for (const batch of batches(ciIds))
      out.push(
        ...(await this.list(
          `wmi/SMS_CIToContent?$filter=${encodeURIComponent(anyOf('CI_ID', batch))}&$select=CI_ID,ContentID`,
          ciContentSchema,
          signal,
        )),
      );
    return out;
  }

  /** The content a package holds, SMS_PackageToContent. */
  packageContent(packageId: string, signal?: AbortSignal) {
    return this.list(
      `wmi/SMS_PackageToContent?$filter=${encodeURIComponent(`PackageID eq ${odataString(packageId)}`)}&$select=PackageID,ContentID`,
      packageContentSchema,
      signal,
    );
  }

  async updatesPackage(by: { PackageID: string } | { Name: string }, signal?: AbortSignal) {
    const [property, value] = Object.entries(by)[0] as [string, string];
    const rows = await this.list(
      `wmi/SMS_SoftwareUpdatesPackage?$filter=${encodeURIComponent(`${property} eq ${odataString(value)}`)}&$select=PackageID,Name,PkgSourcePath`,
      updatesPackageSchema,
      signal,
    );
    return rows[0];
  }

  /** A software updates package on this share (PkgSourceFlag 2: the site reads the source directly), read back by name. */
  async createUpdatesPackage(name: string, description: string, sourcePath: string, signal?: AbortSignal) {
    await this.post(
      'wmi/SMS_SoftwareUpdatesPackage',
      { Name: name, Description: description, PkgSourceFlag: 2, PkgSourcePath: sourcePath },
      signal,
    );
    const created = await this.updatesPackage({ Name: name }, signal);
    return this.created('software updates package', name, created ? [created] : []);
  }

  /** Copies already downloaded content into the package and, with bRefreshDPs, on to its distribution points. */
  addUpdateContent(packageId: string, contentIds: number[], sourcePaths: string[], signal?: AbortSignal) {
    return this.post(
      `wmi/SMS_SoftwareUpdatesPackage(${odataString(packageId)})/AdminService.AddUpdateContent`,
      { ContentIDs: contentIds, ContentSourcePath: sourcePaths, bRefreshDPs: true },
      signal,
    );
  }

  distributionPointGroups(names: string[], signal?: AbortSignal) {
    return this.list(
      `wmi/SMS_DistributionPointGroup?$filter=${encodeURIComponent(anyOf('Name', names))}&$select=GroupID,Name`,
      dpGroupSchema,
      signal,
    );
  }

  async distributionPointGroupMembers(groupIds: string[], signal?: AbortSignal) {
    const out: z.output<typeof dpGroupMemberSchema>[] = [];
    for (const batch of batches(groupIds))
      out.push(
        ...(await this.list(
          `wmi/SMS_DPGroupMembers?$filter=${encodeURIComponent(anyOf('GroupID', batch))}&$select=GroupID,DPNALPath`,
          dpGroupMemberSchema,
          signal,
        )),
      );
    return out;
  }

  /** The distribution points a package is assigned to (SMS_DistributionPoint: one instance per package and DP). */
  async packageDistributionPoints(packageId: string, signal?: AbortSignal) {
    const rows = await this.list(
      `wmi/SMS_DistributionPoint?$filter=${encodeURIComponent(`PackageID eq ${odataString(packageId)}`)}&$select=PackageID,ServerNALPath,Status`,
      packageDpSchema,
      signal,
    );
    // Status 3 (DELETED): the package is being taken off that distribution point.
    return rows.filter((r) => r.Status !== 3);
  }

  /** Assigns the package to a distribution point, as the SDK's "How to Assign a Package to a Distribution Point" does. */
  assignToDistributionPoint(packageId: string, serverNalPath: string, siteCode: string, signal?: AbortSignal) {
    return this.post(
      'wmi/SMS_DistributionPoint',
      { PackageID: packageId, ServerNALPath: serverNalPath, SiteCode: siteCode },
      signal,
    );
  }

  distributionStatus(packageId: string, signal?: AbortSignal) {
    return this.list(
      `wmi/SMS_PackageStatusDistPointsSummarizer?$filter=${encodeURIComponent(`PackageID eq ${odataString(packageId)}`)}&$select=PackageID,ServerNALPath,State`,
      distributionStatusSchema,
      signal,
    );
  }

  private created<T>(what: string, name: string, rows: T[]): T {
    const row = rows[0];
    if (!row)
      throw new UpstreamError(`AdminService accepted the new ${what} "${name}" but does not list it`, {
        retryable: false,
      });
    return row;
  }

  private async list<S extends z.ZodType>(path: string, row: S, signal?: AbortSignal): Promise<z.output<S>[]> {
    const what = `AdminService GET ${path.split('?')[0]}`;
    const out: z.output<S>[] = [];
    let next: string | undefined = path;
    while (next) {
      const answer = await this.send(what, { method: 'GET', url: new URL(next, this.base), headers: {} }, signal);
      let json: unknown;
      try {
        json = JSON.parse(answer.text);
      } catch (err) {
        throw new UpstreamError(`${what}: the answer is not JSON`, { retryable: false, cause: err });
      }
      const page = collection(row).safeParse(json);
      if (!page.success) {
        const issues = page.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
        throw new UpstreamError(`${what}: unexpected answer (${issues})`, { retryable: false });
      }
      out.push(...page.data.value);
      next = page.data['@odata.nextLink'];
    }
    return out;
  }

  private async post(path: string, body: unknown, signal?: AbortSignal): Promise<void> {
    await this.send(
      `AdminService POST ${path}`,
      {
        method: 'POST',
        url: new URL(path, this.base),
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
      signal,
    );
  }

  private async delete(className: string, path: string, signal?: AbortSignal): Promise<void> {
    const what = `AdminService DELETE ${className}`;
    try {
      await this.send(what, { method: 'DELETE', url: new URL(path, this.base), headers: {} }, signal);
    } catch (err) {
      // Already gone is what a delete wants.
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  /** One authenticated exchange; a non-2xx answer becomes the kit's error for that status. */
  private async send(what: string, request: AdminServiceRequest, signal?: AbortSignal): Promise<AdminServiceAnswer> {
    const answer = await this.opts.auth.send(
      { ...request, headers: { accept: 'application/json', ...request.headers } },
      (r) => this.exchange(what, r, signal),
    );
    if (answer.status < 200 || answer.status > 299)
      throw errorForStatus(what, answer.status, odataErrorDetail(answer.text));
    return answer;
  }

  private exchange(what: string, r: AdminServiceRequest, signal?: AbortSignal): Promise<AdminServiceAnswer> {
    const transport = r.url.protocol === 'https:' ? https : http;
    return new Promise<AdminServiceAnswer>((resolve, reject) => {
      const req = transport.request(
        r.url,
        {
          method: r.method,
          agent: this.agent,
          signal,
          timeout: this.opts.timeoutMs,
          headers: {
            ...r.headers,
            ...(r.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(r.body)) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(signal?.aborted ? signal.reason : err));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('timeout', () =>
        req.destroy(new UpstreamError(`${what}: no answer from ${r.url.origin} within ${this.opts.timeoutMs} ms`)),
      );
      req.on('error', (err) => {
        if (signal?.aborted) return reject(signal.reason);
        if (err instanceof UpstreamError) return reject(err);
        const code = (err as { code?: unknown }).code;
        const reason =
          typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
        if (typeof code === 'string' && untrustedCertificate.has(code))
          return reject(
            new UpstreamError(
              `${what}: the TLS certificate of ${r.url.origin} is not trusted (${reason}); set caFile to the CA that issued it (by default the site's "SMS Issuing" root)`,
              { retryable: false, cause: err },
            ),
          );
        reject(new UpstreamError(`${what}: cannot reach ${r.url.origin} (${reason})`, { cause: err }));
      });
      req.end(r.body);
    });
  }
}
