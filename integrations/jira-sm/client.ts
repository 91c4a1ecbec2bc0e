import { z } from 'zod';
import { NotFoundError } from '../../kernel/errors.ts';
import { basicAuth, requestJson, type HttpRequest } from '../kit/support/http.ts';

/** POST /rest/servicedeskapi/request answers with the customer request; the issue key addresses it everywhere else. */
const customerRequestSchema = z.object({ issueId: z.string(), issueKey: z.string().regex(/^[A-Z][A-Z0-9_]*-\d+$/) });

const transitionsSchema = z.object({
  transitions: z.array(z.object({ id: z.string(), name: z.string(), to: z.object({ name: z.string() }).optional() })),
});
export type JiraTransition = z.infer<typeof transitionsSchema>['transitions'][number];

const serviceDeskSchema = z.object({ id: z.string(), projectKey: z.string(), projectName: z.string() });
const requestTypeSchema = z.object({ id: z.string(), name: z.string() });
const commentSchema = z.object({ id: z.string(), public: z.boolean() });
/** An entity property answers with its key and whatever JSON was stored; the caller validates the value. */
const propertySchema = z.object({ key: z.string(), value: z.unknown() });

/**
 * Errors: the platform API answers `{"errorMessages":[…],"errors":{field: message}}`, the service
 * management API `{"errorMessage": "…"}`.
 */
const jiraErrorSchema = z.union([
  z.object({ errorMessages: z.array(z.string()), errors: z.record(z.string(), z.string()).default({}) }),
  z.object({ errorMessage: z.string() }),
]);

function jiraError(body: string): string {
  try {
    const parsed = jiraErrorSchema.safeParse(JSON.parse(body));
    if (parsed.success) {
      const e = parsed.data;
      return 'errorMessage' in e
        ? e.errorMessage
        : [...e.errorMessages, ...Object.entries(e.errors).map(([field, message]) => `${field}: ${message}`)].join(
            '; ',
          );
    }
  } catch {
    // Not Jira answering (a proxy, an HTML error page): the body as it is says more.
  }
  return body;
}

/**
 * Plain text as an Atlassian Document: the platform API v3 takes rich text fields only in that
 * format. One paragraph per line; an empty line is an empty paragraph.
 */
export function atlassianDocument(text: string) {
  return {
    type: 'doc',
    version: 1,
    content: text
      .split('\n')
      .map((line) => ({ type: 'paragraph', content: line ? [{ type: 'text', text: line }] : [] })),
  };
}

const noContent = z.unknown();

/** The Jira Cloud calls the connector makes: service management for requests and comments, the platform API for fields, workflow and properties. */
export class JiraServiceManagementClient {
  constructor(private readonly opts: { siteUrl: string; email: string; apiToken: string; timeoutMs: number }) {}

  async createRequest(serviceDeskId: string, requestTypeId: string, fields: { summary: string; description: string }) {
    return this.call('POST', '/rest/servicedeskapi/request', customerRequestSchema, {
      serviceDeskId,
      requestTypeId,
      requestFieldValues: fields,
    });
  }

  async editIssue(key: string, fields: { summary: string; description: string }): Promise<void> {
    await this.call('PUT', `/rest/api/3/issue/${encodeURIComponent(key)}`, noContent, {
      fields: { summary: fields.summary, description: atlassianDocument(fields.description) },
    });
  }

  async transitions(key: string): Promise<JiraTransition[]> {
    return (await this.call('GET', `/rest/api/3/issue/${encodeURIComponent(key)}/transitions`, transitionsSchema))
      .transitions;
  }

  async transition(key: string, transitionId: string): Promise<void> {
    await this.call('POST', `/rest/api/3/issue/${encodeURIComponent(key)}/transitions`, noContent, {
      transition: { id: transitionId },
    });
  }

  /** `public: false` makes it an internal comment: agents see it, customers on the portal do not. */
  async comment(key: string, body: string, visibleToCustomers: boolean) {
    return this.call('POST', `/rest/servicedeskapi/request/${encodeURIComponent(key)}/comment`, commentSchema, {
      body,
      public: visibleToCustomers,
    });
  }

  /** The issue's entity property `name`, or undefined when it has never been set. */
  async property(key: string, name: string): Promise<unknown> {
    const res = await this.call(
      'GET',
      `/rest/api/3/issue/${encodeURIComponent(key)}/properties/${encodeURIComponent(name)}`,
      propertySchema,
    ).catch((err: unknown) => {
      // A missing issue is not found either; the next call on it says so.
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    return res?.value;
  }

  async setProperty(key: string, name: string, value: unknown): Promise<void> {
    await this.call(
      'PUT',
      `/rest/api/3/issue/${encodeURIComponent(key)}/properties/${encodeURIComponent(name)}`,
      noContent,
      value,
    );
  }

  serviceDesk(id: string) {
    return this.call('GET', `/rest/servicedeskapi/servicedesk/${encodeURIComponent(id)}`, serviceDeskSchema);
  }

  requestType(serviceDeskId: string, requestTypeId: string) {
    return this.call(
      'GET',
      `/rest/servicedeskapi/servicedesk/${encodeURIComponent(serviceDeskId)}/requesttype/${encodeURIComponent(requestTypeId)}`,
      requestTypeSchema,
    );
  }

  private call<S extends z.ZodType>(
    method: HttpRequest['method'],
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>> {
    return requestJson(
      `Jira ${method} ${path.replace(/\/[A-Z][A-Z0-9_]*-\d+(?=\/|$)/, '/{issue}')}`,
      {
        method,
        url: `${this.opts.siteUrl.replace(/\/+$/, '')}${path}`,
        headers: {
          authorization: basicAuth(this.opts.email, this.opts.apiToken),
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        timeoutMs: this.opts.timeoutMs,
      },
      schema,
      jiraError,
    );
  }
}
