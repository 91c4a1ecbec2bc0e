/**
 * A Jira Service Management Cloud site on 127.0.0.1, the calls Patchflow makes, as documented:
 * - Service management API (https://developer.atlassian.com/cloud/jira/service-desk/rest/):
 *   GET /rest/servicedeskapi/servicedesk/{id}, GET …/servicedesk/{id}/requesttype/{id},
 *   POST /rest/servicedeskapi/request {serviceDeskId, requestTypeId, requestFieldValues} (201, the
 *   customer request with issueId and issueKey; text fields as plain strings), POST
 *   /rest/servicedeskapi/request/{issueIdOrKey}/comment {body, public} (201; public false is an
 *   internal comment). Errors: `{"errorMessage": "…"}`.
 * - Platform API v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/): PUT
 *   /rest/api/3/issue/{key} (204; rich text such as description only as an Atlassian Document),
 *   GET /rest/api/3/issue/{key}/transitions (only those the current status offers), POST the same
 *   with {transition: {id}} (204, or 400 for a transition the status does not offer), GET and PUT
 *   /rest/api/3/issue/{key}/properties/{propertyKey} (entity properties: 201 created, 200 updated).
 *   Errors: `{"errorMessages":[…],"errors":{field: message}}`.
 * - Basic auth with an account's e-mail and API token; anything else is 401.
 * The workflow is configurable; the default is modelled on a change workflow of a service project.
 */
import type http from 'node:http';
import { HttpEmulator } from './http-emulator.ts';

export interface JiraWorkflowTransition {
  id: string;
  name: string;
  from: string[];
  to: string;
}

export interface JiraIssue {
  id: string;
  key: string;
  requestTypeId: string;
  summary: string;
  /** As created (plain text) or as last edited (an Atlassian Document). */
  description: unknown;
  status: string;
  statusHistory: string[];
  comments: { id: string; body: string; public: boolean }[];
  properties: Map<string, unknown>;
}

export interface JiraSmEmulatorOptions {
  email: string;
  apiToken: string;
  serviceDeskId?: string;
  projectKey?: string;
  requestType?: { id: string; name: string };
  initialStatus?: string;
  workflow?: JiraWorkflowTransition[];
}

export const defaultChangeWorkflow: JiraWorkflowTransition[] = [
  { id: '11', name: 'Request approval', from: ['Open'], to: 'Awaiting CAB approval' },
  { id: '21', name: 'Approve', from: ['Awaiting CAB approval'], to: 'Awaiting implementation' },
  { id: '31', name: 'Implement', from: ['Awaiting implementation'], to: 'Implementing' },
  { id: '41', name: 'Review', from: ['Implementing'], to: 'Review' },
  { id: '51', name: 'Complete', from: ['Review'], to: 'Completed' },
  { id: '61', name: 'Mark as failed', from: ['Implementing', 'Review'], to: 'Failed' },
  { id: '71', name: 'Cancel', from: ['Open', 'Awaiting CAB approval', 'Awaiting implementation'], to: 'Canceled' },
  { id: '81', name: 'Decline', from: ['Awaiting CAB approval'], to: 'Declined' },
];

/** Patchflow's `transitions` setting for the default workflow: the transition into each stage. */
export const defaultChangeTransitions = {
  authorize: 'Request approval',
  scheduled: 'Approve',
  implement: 'Implement',
  review: 'Review',
  closed: 'Complete',
  failed: 'Mark as failed',
  canceled: 'Cancel',
};

/** Whether a value is an Atlassian Document the way the v3 API checks one: a versioned doc of nodes. */
function isAtlassianDocument(value: unknown): boolean {
  if (!value || typeof value !== 'object') return false;
  const doc = value as { type?: unknown; version?: unknown; content?: unknown };
  return (
    doc.type === 'doc' &&
    doc.version === 1 &&
    Array.isArray(doc.content) &&
    doc.content.every((n) => !!n && typeof n === 'object' && typeof (n as { type?: unknown }).type === 'string')
  );
}

/** The text of an Atlassian Document (or a plain string), one line per paragraph. */
export function documentText(value: unknown): string {
  if (typeof value === 'string') return value;
  const paragraphs = (value as { content?: { content?: { text?: string }[] }[] } | undefined)?.content ?? [];
  return paragraphs.map((p) => (p.content ?? []).map((t) => t.text ?? '').join('')).join('\n');
}

export class JiraSmEmulator extends HttpEmulator {
  readonly requests: { method: string; path: string; body: unknown }[] = [];
  readonly issues: JiraIssue[] = [];
  private readonly serviceDeskId: string;
  private readonly projectKey: string;
  private readonly requestType: { id: string; name: string };
  private readonly workflow: JiraWorkflowTransition[];
  private nextId = 10001;
  private nextComment = 20001;

  constructor(private readonly opts: JiraSmEmulatorOptions) {
    super('');
    this.serviceDeskId = opts.serviceDeskId ?? '4';
    this.projectKey = opts.projectKey ?? 'ITSM';
    this.requestType = opts.requestType ?? { id: '10', name: 'Request a change' };
    this.workflow = opts.workflow ?? defaultChangeWorkflow;
  }

  issue(key: string): JiraIssue | undefined {
    return this.issues.find((i) => i.key === key);
  }

  protected override failureBody() {
    return {
      contentType: 'application/json',
      body: JSON.stringify({ errorMessages: ['Internal server error'], errors: {} }),
    };
  }

  protected handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    let body: unknown;
    let unreadable = false;
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      unreadable = true;
    }
    this.requests.push({ method, path: `${url.pathname}${url.search}`, body });
    const send = (status: number, payload?: unknown) =>
      payload === undefined
        ? res.writeHead(status).end()
        : res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' }).end(JSON.stringify(payload));
    const platformError = (status: number, messages: string[], errors: Record<string, string> = {}) =>
      send(status, { errorMessages: messages, errors });
    const serviceDeskError = (status: number, message: string) => send(status, { errorMessage: message });

    if (
      req.headers.authorization !==
      `Basic ${Buffer.from(`${this.opts.email}:${this.opts.apiToken}`).toString('base64')}`
    ) {
      return void platformError(401, ['Client must be authenticated to access this resource.']);
    }
    if (unreadable) return void platformError(400, ['Unexpected character in the request body: it is not JSON.']);
    const path = url.pathname;
    let m: RegExpExecArray | null;

    if (
      (m = /^\/rest\/servicedeskapi\/servicedesk\/([^/]+)(?:\/requesttype\/([^/]+))?$/.exec(path)) &&
      method === 'GET'
    ) {
      if (m[1] !== this.serviceDeskId)
        return void serviceDeskError(
          404,
          `The service desk ${m[1]} does not exist, or you do not have permission to see it.`,
        );
      if (m[2] === undefined)
        return void send(200, {
          id: this.serviceDeskId,
          projectId: '10000',
          projectName: 'IT Service Management',
          projectKey: this.projectKey,
          _links: { self: `${this.url}${path}` },
        });
      if (m[2] !== this.requestType.id)
        return void serviceDeskError(404, `The request type ${m[2]} does not exist in service desk ${m[1]}.`);
      return void send(200, {
        id: this.requestType.id,
        name: this.requestType.name,
        description: 'Ask for a change to a service',
        helpText: '',
        issueTypeId: '10005',
        serviceDeskId: this.serviceDeskId,
        groupIds: [],
      });
    }
    if (path === '/rest/servicedeskapi/request' && method === 'POST')
      return void this.createRequest(body, send, serviceDeskError);
    if ((m = /^\/rest\/servicedeskapi\/request\/([^/]+)\/comment$/.exec(path)) && method === 'POST') {
      const issue = this.find(m[1]!);
      if (!issue)
        return void serviceDeskError(404, 'The request does not exist, or you do not have permission to see it.');
      const input = (body ?? {}) as { body?: unknown; public?: unknown };
      if (typeof input.body !== 'string' || !input.body.trim())
        return void serviceDeskError(400, 'The comment body is required.');
      const comment = { id: String(this.nextComment++), body: input.body, public: input.public !== false };
      issue.comments.push(comment);
      return void send(201, {
        ...comment,
        author: { emailAddress: this.opts.email, displayName: 'Patchflow' },
        created: { iso8601: new Date().toISOString() },
      });
    }

    if (!(m = /^\/rest\/api\/3\/issue\/([^/]+)(\/transitions|\/properties\/[^/]+)?$/.exec(path)))
      return void platformError(404, [`No resource matches ${path}`]);
    const issue = this.find(m[1]!);
    if (!issue) return void platformError(404, ['Issue does not exist or you do not have permission to see it.']);
    const sub = m[2];
    if (sub === undefined && method === 'PUT') {
      const fields = ((body ?? {}) as { fields?: Record<string, unknown> }).fields ?? {};
      const errors: Record<string, string> = {};
      if ('summary' in fields && (typeof fields['summary'] !== 'string' || !fields['summary'].trim()))
        errors['summary'] = 'You must specify a summary of the issue.';
      if ('description' in fields && !isAtlassianDocument(fields['description']))
        errors['description'] = 'Operation value must be an Atlassian Document (see the Atlassian Document Format)';
      if (Object.keys(errors).length) return void platformError(400, [], errors);
      if (typeof fields['summary'] === 'string') issue.summary = fields['summary'];
      if ('description' in fields) issue.description = fields['description'];
      return void send(204);
    }
    if (sub === '/transitions' && method === 'GET') {
      return void send(200, {
        expand: 'transitions',
        transitions: this.available(issue).map((t) => ({
          id: t.id,
          name: t.name,
          to: { name: t.to, id: t.id },
          hasScreen: false,
          isGlobal: false,
          isInitial: false,
          isAvailable: true,
          isConditional: false,
          isLooped: false,
        })),
      });
    }
    if (sub === '/transitions' && method === 'POST') {
      const id = String(((body ?? {}) as { transition?: { id?: unknown } }).transition?.id ?? '');
      const transition = this.available(issue).find((t) => t.id === id);
      if (!transition) return void platformError(400, [`Transition id '${id}' is not valid for this issue.`]);
      issue.status = transition.to;
      issue.statusHistory.push(transition.to);
      return void send(204);
    }
    if (sub?.startsWith('/properties/')) {
      const name = decodeURIComponent(sub.slice('/properties/'.length));
      if (method === 'GET') {
        if (!issue.properties.has(name))
          return void platformError(404, [`The property with key '${name}' does not exist.`]);
        return void send(200, { key: name, value: issue.properties.get(name) });
      }
      if (method === 'PUT') {
        const existed = issue.properties.has(name);
        issue.properties.set(name, body);
        return void send(existed ? 200 : 201);
      }
    }
    platformError(405, [`${method} is not supported on ${path}`]);
  }

  private createRequest(
    body: unknown,
    send: (status: number, payload?: unknown) => void,
    error: (status: number, message: string) => void,
  ): void {
    const input = (body ?? {}) as {
      serviceDeskId?: unknown;
      requestTypeId?: unknown;
      requestFieldValues?: Record<string, unknown>;
    };
    if (String(input.serviceDeskId) !== this.serviceDeskId)
      return error(
        400,
        `The service desk ${String(input.serviceDeskId)} does not exist, or you do not have permission to see it.`,
      );
    if (String(input.requestTypeId) !== this.requestType.id)
      return error(
        400,
        `The request type ${String(input.requestTypeId)} does not exist in service desk ${this.serviceDeskId}.`,
      );
    const values = input.requestFieldValues ?? {};
    const summary = values['summary'];
    if (typeof summary !== 'string' || !summary.trim())
      return error(400, 'Summary: You must specify a summary of the issue.');
    if (values['description'] !== undefined && typeof values['description'] !== 'string')
      return error(400, 'Description: the request field takes plain text.');
    const id = String(this.nextId++);
    const initial = this.opts.initialStatus ?? 'Open';
    const issue: JiraIssue = {
      id,
      key: `${this.projectKey}-${this.issues.length + 1}`,
      requestTypeId: this.requestType.id,
      summary,
      description: values['description'] ?? '',
      status: initial,
      statusHistory: [initial],
      comments: [],
      properties: new Map(),
    };
    this.issues.push(issue);
    send(201, {
      issueId: issue.id,
      issueKey: issue.key,
      requestTypeId: issue.requestTypeId,
      serviceDeskId: this.serviceDeskId,
      createdDate: { iso8601: new Date().toISOString() },
      reporter: { emailAddress: this.opts.email, displayName: 'Patchflow' },
      requestFieldValues: [
        { fieldId: 'summary', label: 'Summary', value: issue.summary },
        { fieldId: 'description', label: 'Description', value: issue.description },
      ],
      currentStatus: { status: initial, statusCategory: 'NEW', statusDate: { iso8601: new Date().toISOString() } },
      _links: {
        self: `${this.url}/rest/servicedeskapi/request/${issue.id}`,
        web: `${this.url}/servicedesk/customer/portal/${this.serviceDeskId}/${issue.key}`,
      },
    });
  }

  private find(idOrKey: string): JiraIssue | undefined {
    const key = decodeURIComponent(idOrKey);
    return this.issues.find((i) => i.key === key || i.id === key);
  }

  private available(issue: JiraIssue): JiraWorkflowTransition[] {
    return this.workflow.filter((t) => t.from.includes(issue.status));
  }
}
