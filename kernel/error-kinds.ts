/**
 * The one table of error kinds. Each kind's name is the error class's `name`, which crosses the
 * activity boundary as the ApplicationFailure `type`; the activity options read `retryable` from
 * here, and the HTTP and chat edges read `status` and `code`. Plain data with no imports, so that
 * workflow code may read it too.
 */
export const errorKinds = {
  InputError: { code: 'invalid_input', status: 400, retryable: false },
  UnauthenticatedError: { code: 'unauthenticated', status: 401, retryable: false },
  NotAllowedError: { code: 'not_allowed', status: 403, retryable: false },
  NotFoundError: { code: 'not_found', status: 404, retryable: false },
  ConflictError: { code: 'conflict', status: 409, retryable: false },
  /** Not yet: the thing asked for is still being prepared (a CAB gate gathering its change request). */
  NotReadyError: { code: 'not_ready', status: 409, retryable: true },
  UpstreamError: { code: 'upstream_failed', status: 502, retryable: true },
} as const satisfies Record<string, { code: string; status: number; retryable: boolean }>;

export type ErrorKindName = keyof typeof errorKinds;

export function isErrorKindName(name: string | undefined): name is ErrorKindName {
  return name !== undefined && Object.hasOwn(errorKinds, name);
}

/** The failure types that retrying cannot fix, for Temporal's `nonRetryableErrorTypes`. */
export const nonRetryableErrorTypes: string[] = Object.entries(errorKinds)
  .filter(([, kind]) => !kind.retryable)
  .map(([name]) => name);
