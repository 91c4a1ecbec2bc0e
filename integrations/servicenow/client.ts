import { z } from 'zod';
import { requestJson, type HttpRequest } from '../kit/support/http.ts';

/**
 * The Table API's view of a change request, as far as Patchflow reads it. Without
 * sysparm_display_value every field comes back as its stored value, as a string (state "-5").
 */
export const changeRequestRowSchema = z.object({
  sys_id: z.string().regex(/^[0-9a-f]{32}$/),
  number: z.string().min(1),
  state: z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
  type: z.string(),
});
export type ChangeRequestRow = z.infer<typeof changeRequestRowSchema>;

const rowFields = 'sys_id,number,state,type';
const result = <S extends z.ZodType>(schema: S) => z.object({ result: schema });

/** The Table API's error body: `{"error":{"message","detail"},"status":"failure"}`. */
const tableApiErrorSchema = z.object({
  error: z.object({ message: z.string(), detail: z.string().nullable().optional() }),
});

function tableApiError(body: string): string {
  try {
    const parsed = tableApiErrorSchema.safeParse(JSON.parse(body));
    if (parsed.success) return [parsed.data.error.message, parsed.data.error.detail].filter(Boolean).join(': ');
  } catch {
    // Not the Table API answering (a proxy, an HTML maintenance page): the body as it is says more.
  }
  return body;
}

/** The Table API calls on change_request the connector makes, each answer validated. */
export class ChangeRequestTable {
  constructor(private readonly opts: { instanceUrl: string; authorization: string; timeoutMs: number }) {}

  create(fields: Record<string, string>): Promise<ChangeRequestRow> {
    return this.call('POST', `?sysparm_fields=${rowFields}`, result(changeRequestRowSchema), fields).then(
      (r) => r.result,
    );
  }

  get(sysId: string): Promise<ChangeRequestRow> {
    return this.call('GET', `/${sysId}?sysparm_fields=${rowFields}`, result(changeRequestRowSchema)).then(
      (r) => r.result,
    );
  }

  /** Updates the given fields; writing `work_notes` adds a journal entry rather than replacing one. */
  update(sysId: string, fields: Record<string, string>): Promise<ChangeRequestRow> {
    return this.call('PATCH', `/${sysId}?sysparm_fields=${rowFields}`, result(changeRequestRowSchema), fields).then(
      (r) => r.result,
    );
  }

  /** Reads one row: proves the instance answers, the credentials work and the user may read change requests. */
  probe(): Promise<{ result: { sys_id: string }[] }> {
    return this.call(
      'GET',
      '?sysparm_limit=1&sysparm_fields=sys_id',
      result(z.array(z.object({ sys_id: z.string() }))),
    );
  }

  private call<S extends z.ZodType>(
    method: HttpRequest['method'],
    suffix: string,
    schema: S,
    body?: Record<string, string>,
  ): Promise<z.output<S>> {
    const base = this.opts.instanceUrl.replace(/\/+$/, '');
    return requestJson(
      `ServiceNow ${method} change_request`,
      {
        method,
        url: `${base}/api/now/table/change_request${suffix}`,
        headers: {
          authorization: this.opts.authorization,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        timeoutMs: this.opts.timeoutMs,
      },
      schema,
      tableApiError,
    );
  }
}
