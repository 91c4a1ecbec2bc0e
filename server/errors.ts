import type { ErrorRequestHandler } from 'express';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { PatchflowError } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';

const statusByName: Record<string, number> = {
  InputError: 400,
  NotAllowedError: 403,
  NotFoundError: 404,
  ConflictError: 409,
  UpstreamError: 502,
};

export interface ErrorBody {
  error: { code: string; message: string; details: { path: (string | number)[]; message: string }[] };
}

/** One mapping from errors to HTTP: the body always says what was wrong and, for input, which field. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    const { status, body } = toHttpError(err);
    if (status >= 500) logger.error('request failed', { err: err instanceof Error ? err.stack : String(err) });
    res.status(status).json(body);
  };
}

export function toHttpError(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof PatchflowError) {
    return { status: statusByName[err.name] ?? 500, body: { error: { code: err.code, message: err.message, details: err.details } } };
  }
  // An Update validator's refusal: the workflow threw an ApplicationFailure whose type names our error.
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const type = err.cause.type ?? 'InputError';
    return { status: statusByName[type] ?? 400, body: { error: { code: codeFor(type), message: err.cause.message, details: [] } } };
  }
  // express.json() raises these for unparseable bodies.
  if (err && typeof err === 'object' && 'type' in err && (err as { type: unknown }).type === 'entity.parse.failed') {
    return { status: 400, body: { error: { code: 'invalid_input', message: 'request body is not valid JSON', details: [{ path: [], message: 'not valid JSON' }] } } };
  }
  if (err && typeof err === 'object' && 'type' in err && (err as { type: unknown }).type === 'entity.too.large') {
    return { status: 413, body: { error: { code: 'too_large', message: 'request body is too large', details: [] } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error; see the server log', details: [] } } };
}

function codeFor(type: string): string {
  return { NotAllowedError: 'not_allowed', NotFoundError: 'not_found', ConflictError: 'conflict' }[type] ?? 'invalid_input';
}
