import { z } from 'zod';
import { basicAuth, errorForStatus, requestJson, sendHttp, type HttpRequest } from '../kit/support/http.ts';

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
  /** State topic 402 (software updates installation); 6 is "General failure". */
  LastEnforcementMessageID: z.number().nullable().optional(),
});
export type ComplianceRow = z.infer<typeof complianceSchema>;

const updateGroupSchema = z.object({ CI_ID: z.number(), LocalizedDisplayName: z.string() });
const assignmentSchema = z.object({
  AssignmentID: z.number(),
  AssignmentName: z.string(),
  TargetCollectionID: z.string(),
});
const memberSchema = z.object({ CollectionID: z.string(), ResourceID: z.number() });
const collectionSchema = z.object({ CollectionID: z.string(), Name: z.string() });
const deviceSchema = z.object({ MachineId: z.number(), Name: z.string() });

/** An OData string literal: single quotes doubled. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Terms joined with `or`, at most `size` per query, so that URLs stay short. */
function batches<T>(items: T[], size = 20): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The AdminService calls the connector makes (WMI route, OData v4 JSON), each answer validated. */
export class AdminServiceClient {
  constructor(private readonly opts: { url: string; username: string; password: string; timeoutMs: number }) {}

  site(signal?: AbortSignal) {
    return this.list(
      'wmi/SMS_Site?$select=SiteCode,SiteName,Version',
      z.object({ SiteCode: z.string(), SiteName: z.string(), Version: z.string() }),
      signal,
    );
  }

  async systemsNamed(names: string[], signal?: AbortSignal): Promise<SmsSystem[]> {
    const out: SmsSystem[] = [];
    for (const batch of batches(names)) {
      const filter = batch.map((n) => `Name eq ${odataString(n)}`).join(' or ');
      out.push(
        ...(await this.list(
          `wmi/SMS_R_System?$filter=${encodeURIComponent(filter)}&$select=ResourceId,Name,ResourceNames,IPAddresses,OperatingSystemNameandVersion`,
          systemSchema,
          signal,
        )),
      );
    }
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
            `wmi/SMS_UpdateComplianceStatus?$filter=${encodeURIComponent(filter)}&$select=CI_ID,MachineID,Status,LastEnforcementMessageID`,
            complianceSchema,
            signal,
          )),
        );
      }
    }
    return out;
  }

  async findOrCreateUpdateGroup(
    name: string,
    description: string,
    ciIds: number[],
    signal?: AbortSignal,
  ): Promise<number> {
    const existing = await this.list(
      `wmi/SMS_AuthorizationList?$filter=${encodeURIComponent(`LocalizedDisplayName eq ${odataString(name)}`)}&$select=CI_ID,LocalizedDisplayName`,
      updateGroupSchema,
      signal,
    );
    if (existing[0]) return existing[0].CI_ID;
    const created = await this.post(
      'wmi/SMS_AuthorizationList',
      { LocalizedInformation: [{ DisplayName: name, Description: description }], Updates: ciIds },
      updateGroupSchema,
      signal,
    );
    return created.CI_ID;
  }

  async findAssignments(name: string, signal?: AbortSignal) {
    return this.list(
      `wmi/SMS_UpdatesAssignment?$filter=${encodeURIComponent(`AssignmentName eq ${odataString(name)}`)}&$select=AssignmentID,AssignmentName,TargetCollectionID`,
      assignmentSchema,
      signal,
    );
  }

  createAssignment(body: Record<string, unknown>, signal?: AbortSignal) {
    return this.post('wmi/SMS_UpdatesAssignment', body, assignmentSchema, signal);
  }

  async deleteAssignment(id: number, signal?: AbortSignal): Promise<void> {
    const res = await sendHttp(
      'AdminService DELETE SMS_UpdatesAssignment',
      this.request('DELETE', `wmi/SMS_UpdatesAssignment(${id})`, signal),
    );
    if (res.status !== 204 && res.status !== 200 && res.status !== 404)
      throw errorForStatus('AdminService DELETE SMS_UpdatesAssignment', res.status, res.text);
  }

  private async list<S extends z.ZodType>(path: string, row: S, signal?: AbortSignal): Promise<z.output<S>[]> {
    const out: z.output<S>[] = [];
    let next: string | undefined = path;
    while (next) {
      const page: { value: z.output<S>[]; '@odata.nextLink'?: string | undefined } = await requestJson(
        `AdminService GET ${path.split('?')[0]}`,
        this.request('GET', next, signal),
        collection(row),
      );
      out.push(...page.value);
      next = page['@odata.nextLink'];
    }
    return out;
  }

  private post<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
    signal?: AbortSignal,
  ): Promise<z.output<S>> {
    return requestJson(`AdminService POST ${path}`, this.request('POST', path, signal, JSON.stringify(body)), schema);
  }

  private request(method: HttpRequest['method'], pathOrUrl: string, signal?: AbortSignal, body?: string): HttpRequest {
    const base = this.opts.url.endsWith('/') ? this.opts.url : `${this.opts.url}/`;
    return {
      method,
      url: new URL(pathOrUrl, base).toString(),
      headers: {
        authorization: basicAuth(this.opts.username, this.opts.password),
        accept: 'application/json',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body,
      timeoutMs: this.opts.timeoutMs,
      signal,
    };
  }
}
