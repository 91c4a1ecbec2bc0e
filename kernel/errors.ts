/**
 * One error hierarchy for the whole project. `name` survives the activity boundary as the
 * ApplicationFailure `type`, so workflows branch on `failure.type`, never on `instanceof`.
 */
export interface ErrorDetail {
  /** Path of the offending field, e.g. `["policy","quorum"]`; empty when the error is not about one field. */
  path: (string | number)[];
  message: string;
}

export class PatchflowError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: ErrorDetail[];
  constructor(message: string, opts: { code: string; retryable?: boolean; details?: ErrorDetail[]; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = 'PatchflowError';
    this.code = opts.code;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details ?? [];
  }
}

/** The caller sent something invalid; retrying the same input cannot help. */
export class InputError extends PatchflowError {
  constructor(message: string, details: ErrorDetail[] = [], cause?: unknown) {
    super(message, { code: 'invalid_input', details, cause });
    this.name = 'InputError';
  }
}

export class NotFoundError extends PatchflowError {
  constructor(message: string) {
    super(message, { code: 'not_found' });
    this.name = 'NotFoundError';
  }
}

/** The request is valid but clashes with the current state (e.g. approving a cycle not awaiting approval). */
export class ConflictError extends PatchflowError {
  constructor(message: string) {
    super(message, { code: 'conflict' });
    this.name = 'ConflictError';
  }
}

/** The person is known but may not do this (separation of duties, missing role). */
export class NotAllowedError extends PatchflowError {
  constructor(message: string) {
    super(message, { code: 'not_allowed' });
    this.name = 'NotAllowedError';
  }
}

/** An external system failed in a way worth retrying (timeouts, 5xx, connection refused). */
export class UpstreamError extends PatchflowError {
  constructor(message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, { code: 'upstream_failed', retryable: opts.retryable ?? true, cause: opts.cause });
    this.name = 'UpstreamError';
  }
}

/** Turns a zod error into an InputError that names every offending field. */
export function inputErrorFromZod(what: string, issues: { path: PropertyKey[]; message: string }[]): InputError {
  const details = issues.map((i) => ({ path: i.path.map((p) => (typeof p === 'number' ? p : String(p))), message: i.message }));
  const summary = details.map((d) => `${d.path.length ? d.path.join('.') : '(root)'}: ${d.message}`).join('; ');
  return new InputError(`invalid ${what}: ${summary}`, details);
}
