import type { ErrorRequestHandler } from 'express';
import { describeError, type DescribedError } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';

export interface ErrorBody {
  error: { code: string; message: string; details: { path: (string | number)[]; message: string }[] };
}

/** One mapping from errors to HTTP: the body always says what was wrong and, for input, which field. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    const { status, code, message, details } = describeRequestError(err);
    if (status >= 500) logger.error('request failed', { err: err instanceof Error ? err.stack : String(err) });
    res.status(status).json({ error: { code, message, details } } satisfies ErrorBody);
  };
}

/** The kernel's description of an error, plus what only requests raise: the body parser's errors. */
function describeRequestError(err: unknown): DescribedError {
  // express.json() raises these for unparseable bodies.
  const bodyParserType = err && typeof err === 'object' && 'type' in err ? (err as { type: unknown }).type : undefined;
  if (bodyParserType === 'entity.parse.failed')
    return {
      status: 400,
      code: 'invalid_input',
      message: 'request body is not valid JSON',
      details: [{ path: [], message: 'not valid JSON' }],
    };
  if (bodyParserType === 'entity.too.large')
    return { status: 413, code: 'too_large', message: 'request body is too large', details: [] };
  return describeError(err);
}
