/**
 * One error hierarchy for the whole project. `name` survives the activity boundary as the
 * ApplicationFailure `type`, so workflows branch on `failure.type`, never on `instanceof`.
 */
import { errorKinds, isErrorKindName, type ErrorKindName } from './error-kinds.ts';

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
    super(message, { code: errorKinds.InputError.code, details, cause });
    this.name = 'InputError' satisfies ErrorKindName;
  }
}

export class NotFoundError extends PatchflowError {
  constructor(message: string) {
    super(message, { code: errorKinds.NotFoundError.code });
    this.name = 'NotFoundError' satisfies ErrorKindName;
  }
}

/** The request is valid but clashes with the current state (e.g. approving a cycle not awaiting approval). */
export class ConflictError extends PatchflowError {
  constructor(message: string) {
    super(message, { code: errorKinds.ConflictError.code });
    this.name = 'ConflictError' satisfies ErrorKindName;
  }
}

/** The request carries no credential, or one that is unknown, expired or revoked. */
export class UnauthenticatedError extends PatchflowError {
  constructor(message: string) {
    super(message, { code: errorKinds.UnauthenticatedError.code });
    this.name = 'UnauthenticatedError' satisfies ErrorKindName;
  }
}

/** The person is known but may not do this (separation of duties, missing role, loosening policy). */
export class NotAllowedError extends PatchflowError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(message, { code: errorKinds.NotAllowedError.code, details });
    this.name = 'NotAllowedError' satisfies ErrorKindName;
  }
}

/** Asked too early: what the request needs is still being prepared; the same request will do in a moment. */
export class NotReadyError extends PatchflowError {
  constructor(message: string) {
    super(message, { code: errorKinds.NotReadyError.code, retryable: true });
    this.name = 'NotReadyError' satisfies ErrorKindName;
  }
}

/** An external system failed in a way worth retrying (timeouts, 5xx, connection refused). */
export class UpstreamError extends PatchflowError {
  constructor(message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, {
      code: errorKinds.UpstreamError.code,
      retryable: opts.retryable ?? errorKinds.UpstreamError.retryable,
      cause: opts.cause,
    });
    this.name = 'UpstreamError' satisfies ErrorKindName;
  }
}

/** Turns a zod error into an InputError that names every offending field. */
export function inputErrorFromZod(what: string, issues: { path: PropertyKey[]; message: string }[]): InputError {
  const details = issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'number' ? p : String(p))),
    message: i.message,
  }));
  const summary = details.map((d) => `${d.path.length ? d.path.join('.') : '(root)'}: ${d.message}`).join('; ');
  return new InputError(`invalid ${what}: ${summary}`, details);
}

/** PostgreSQL's SQLSTATE for a unique-constraint violation: the row is already there. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '23505';
}

/** How an error is shown to a person at an edge (HTTP, chat): the status and a body naming what was wrong. */
export interface DescribedError {
  status: number;
  code: string;
  message: string;
  details: ErrorDetail[];
}

/**
 * One description of any error for the edges: Patchflow's own errors by their kind, a refusal
 * that crossed from a workflow as `{ type, message }` (an Update validator's ApplicationFailure)
 * by the kind its type names, anything else as an internal error whose text stays in the log.
 */
export function describeError(err: unknown): DescribedError {
  if (err instanceof PatchflowError) {
    const status = isErrorKindName(err.name) ? errorKinds[err.name].status : 500;
    return { status, code: err.code, message: err.message, details: err.details };
  }
  return { status: 500, code: 'internal', message: 'internal error; see the server log', details: [] };
}

const errorOfKind: Record<ErrorKindName, (message: string) => PatchflowError> = {
  InputError: (m) => new InputError(m),
  UnauthenticatedError: (m) => new UnauthenticatedError(m),
  NotAllowedError: (m) => new NotAllowedError(m),
  NotFoundError: (m) => new NotFoundError(m),
  ConflictError: (m) => new ConflictError(m),
  NotReadyError: (m) => new NotReadyError(m),
  UpstreamError: (m) => new UpstreamError(m),
};

/**
 * The error a refusal that crossed Temporal stands for: a workflow (an Update validator) throws
 * an ApplicationFailure whose `type` names a kind; an unnamed one is taken as bad input.
 */
export function errorFromFailure(type: string | null | undefined, message: string): PatchflowError {
  return errorOfKind[isErrorKindName(type ?? undefined) ? (type as ErrorKindName) : 'InputError'](message);
}
