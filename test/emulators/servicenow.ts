/**
 * A ServiceNow instance's Table API for change_request on 127.0.0.1, as documented:
 * - POST /api/now/table/change_request creates a record (201), GET and PATCH (or PUT)
 *   /api/now/table/change_request/{sys_id} read and update it (200), GET on the table lists
 *   records (sysparm_limit); every answer is `{"result": …}` with stored values as strings
 *   (state "-5"), narrowed by sysparm_fields. Writing work_notes adds a journal entry; the field
 *   itself reads back empty. https://developer.servicenow.com/dev.do#!/reference/api/latest/rest/c_TableAPI
 * - Errors are `{"error":{"message","detail"},"status":"failure"}`: 401 "User Not Authenticated"
 *   without valid Basic or Bearer credentials, 404 "No Record found" for an unknown sys_id, 403
 *   "Operation Failed" when a business rule or data policy refuses the write.
 * - The change state model (-5 New, -4 Assess, -3 Authorize, -2 Scheduled, -1 Implement,
 *   0 Review, 3 Closed, 4 Canceled): normal changes move through every state in order, emergency
 *   changes skip Assess, standard changes skip Assess and Authorize; any open state but Review
 *   may be canceled, Assess and Authorize may revert to New; closing needs close_code and close_notes.
 *   https://www.servicenow.com/docs/r/it-service-management/change-management/c_ChangeStateModel.html
 * Dates are `yyyy-MM-dd HH:mm:ss` (UTC), the Table API's format for stored date-time values.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { HttpEmulator } from './http-emulator.ts';

type Fields = Record<string, string>;

export interface ServiceNowChangeRequest {
  fields: Fields;
  /** Every state the record has been in, from its creation on. */
  stateHistory: number[];
  workNotes: string[];
}

export interface ServiceNowEmulatorOptions {
  username: string;
  password: string;
  /** Accepted as `Authorization: Bearer <token>` besides Basic credentials. */
  oauthToken?: string;
}

const stateLabel: Record<number, string> = {
  [-5]: 'New',
  [-4]: 'Assess',
  [-3]: 'Authorize',
  [-2]: 'Scheduled',
  [-1]: 'Implement',
  0: 'Review',
  3: 'Closed',
  4: 'Canceled',
};
const paths: Record<string, number[]> = {
  normal: [-5, -4, -3, -2, -1, 0, 3],
  emergency: [-5, -3, -2, -1, 0, 3],
  standard: [-5, -2, -1, 0, 3],
};
const closeCodes = ['successful', 'successful_issues', 'unsuccessful'];
const dateTime = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
/** The fields a change request has; others are dropped on write as the Table API does. */
const columns = [
  'type',
  'state',
  'short_description',
  'description',
  'justification',
  'implementation_plan',
  'backout_plan',
  'test_plan',
  'risk',
  'impact',
  'priority',
  'category',
  'assignment_group',
  'start_date',
  'end_date',
  'approval',
  'close_code',
  'close_notes',
  'correlation_id',
  'correlation_display',
];

const now = () => new Date().toISOString().slice(0, 19).replace('T', ' ');

export class ServiceNowEmulator extends HttpEmulator {
  readonly requests: { method: string; path: string; body: unknown }[] = [];
  readonly records: ServiceNowChangeRequest[] = [];
  private nextNumber = 30001;

  constructor(private readonly opts: ServiceNowEmulatorOptions) {
    super('');
  }

  /** The record whose correlation_id is the cycle id, as Patchflow opens them. */
  recordFor(cycleId: string): ServiceNowChangeRequest | undefined {
    return this.records.find((r) => r.fields['correlation_id'] === cycleId);
  }

  protected override failureBody() {
    return {
      contentType: 'application/json',
      body: JSON.stringify({
        error: { message: 'Internal Server Error', detail: 'The instance could not process the request' },
        status: 'failure',
      }),
    };
  }

  protected handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    let body: unknown;
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      body = raw.toString('utf8');
    }
    this.requests.push({ method, path: `${url.pathname}${url.search}`, body });
    const send = (status: number, payload: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' }).end(JSON.stringify(payload));
    const fail = (status: number, message: string, detail: string | null) =>
      send(status, { error: { message, detail }, status: 'failure' });

    if (!this.authenticated(req.headers.authorization))
      return void fail(401, 'User Not Authenticated', 'Required to provide Auth information');
    const m = /^\/api\/now\/table\/([a-z0-9_]+)(?:\/([0-9a-f]{32}|[^/]+))?$/.exec(url.pathname);
    if (!m) return void fail(400, 'Requested URI does not represent any resource', `${url.pathname}`);
    const [, table, sysId] = m as unknown as [string, string, string | undefined];
    if (table !== 'change_request') return void fail(400, `Invalid table ${table}`, null);
    const fieldsParam = url.searchParams.get('sysparm_fields');
    const view = (r: ServiceNowChangeRequest) =>
      fieldsParam ? Object.fromEntries(fieldsParam.split(',').map((f) => [f, r.fields[f] ?? ''])) : { ...r.fields };

    if (sysId === undefined) {
      if (method === 'GET') {
        const limit = Number(url.searchParams.get('sysparm_limit') ?? '10000');
        return void send(200, { result: this.records.slice(0, limit).map(view) });
      }
      if (method !== 'POST') return void fail(405, 'Method not Supported', `${method} is not supported on the table`);
      const input = this.writable(body);
      if (typeof input === 'string') return void fail(400, 'Exception while reading request', input);
      const problem = this.checkNew(input.fields);
      if (problem) return void fail(403, 'Operation Failed', problem);
      const created = now();
      const record: ServiceNowChangeRequest = {
        fields: {
          sys_id: randomBytes(16).toString('hex'),
          number: `CHG${String(this.nextNumber++).padStart(7, '0')}`,
          type: 'normal',
          state: '-5',
          approval: 'not requested',
          risk: '3',
          ...input.fields,
          work_notes: '',
          sys_created_on: created,
          sys_updated_on: created,
        },
        stateHistory: [],
        workNotes: input.workNotes ? [input.workNotes] : [],
      };
      record.stateHistory.push(Number(record.fields['state']));
      this.records.push(record);
      return void send(201, { result: view(record) });
    }

    const record = this.records.find((r) => r.fields['sys_id'] === sysId);
    if (!record) return void fail(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");
    if (method === 'GET') return void send(200, { result: view(record) });
    if (method !== 'PATCH' && method !== 'PUT')
      return void fail(405, 'Method not Supported', `${method} is not supported on a record`);
    const input = this.writable(body);
    if (typeof input === 'string') return void fail(400, 'Exception while reading request', input);
    const problem = this.checkUpdate(record, input.fields);
    if (problem)
      return void fail(
        403,
        'Operation Failed',
        `Error during update of change_request (${record.fields['number']}): ${problem}`,
      );
    const before = record.fields['state'];
    Object.assign(record.fields, input.fields, { sys_updated_on: now() });
    if (record.fields['state'] !== before) record.stateHistory.push(Number(record.fields['state']));
    if (input.workNotes) record.workNotes.push(input.workNotes);
    send(200, { result: view(record) });
  }

  private authenticated(header: string | undefined): boolean {
    if (header === `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64')}`)
      return true;
    return this.opts.oauthToken !== undefined && header === `Bearer ${this.opts.oauthToken}`;
  }

  /** The known fields of a write, as strings; work_notes apart. A string answer says why the body is unreadable. */
  private writable(body: unknown): { fields: Fields; workNotes: string | undefined } | string {
    if (!body || typeof body !== 'object' || Array.isArray(body)) return 'the request body is not a JSON object';
    const entries = Object.entries(body as Record<string, unknown>);
    const notString = entries.find(([, v]) => typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean');
    if (notString) return `field ${notString[0]} is not a value`;
    const fields = Object.fromEntries(entries.filter(([k]) => columns.includes(k)).map(([k, v]) => [k, String(v)]));
    const notes = (body as Record<string, unknown>)['work_notes'];
    return { fields, workNotes: notes === undefined || notes === '' ? undefined : String(notes) };
  }

  private checkNew(fields: Fields): string | undefined {
    if (fields['type'] && !paths[fields['type']]) return `Invalid type ${fields['type']}`;
    if (fields['state'] && fields['state'] !== '-5')
      return `A change request is created in state New, not ${stateLabel[Number(fields['state'])] ?? fields['state']}`;
    return this.checkValues(fields);
  }

  private checkUpdate(record: ServiceNowChangeRequest, fields: Fields): string | undefined {
    const from = Number(record.fields['state']);
    const to = fields['state'] === undefined ? from : Number(fields['state']);
    if (to !== from) {
      const path = paths[record.fields['type'] ?? 'normal'] ?? [];
      const allowed = [
        path[path.indexOf(from) + 1],
        ...(from !== 0 && from !== 3 && from !== 4 ? [4] : []),
        ...(from === -4 || from === -3 ? [-5] : []),
      ];
      if (!allowed.includes(to))
        return `the ${record.fields['type']} change state model does not allow moving from ${stateLabel[from]} to ${stateLabel[to] ?? fields['state']}`;
      if (to === 3) {
        const missing = ['close_code', 'close_notes'].filter((f) => !(fields[f] ?? record.fields[f]));
        if (missing.length) return `Data Policy Exception: the following fields are mandatory: ${missing.join(', ')}`;
      }
    }
    return this.checkValues(fields);
  }

  private checkValues(fields: Fields): string | undefined {
    if (fields['close_code'] && !closeCodes.includes(fields['close_code']))
      return `Invalid close_code ${fields['close_code']}`;
    const badDate = ['start_date', 'end_date'].find((f) => fields[f] !== undefined && !dateTime.test(fields[f]!));
    if (badDate) return `Invalid date-time for ${badDate}: ${fields[badDate]} (expected yyyy-MM-dd HH:mm:ss)`;
    return undefined;
  }
}
