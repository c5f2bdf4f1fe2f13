// The one place that maps errors to HTTP responses. Every error answer is JSON:
// {error: <code>, message, ...details}; a field error names the field.
import type { Context, Next } from 'koa';
import { isDatabaseUnavailable } from '../db/pool.ts';
import { BulkActionNotFoundError, InvalidStateError, JobNotFoundError, ServiceUnavailableError, ValidationError } from '../model/errors.ts';
import type { Logger } from '../ops/log.ts';

/** An error that already knows its HTTP status (bad JSON, a body too large, auth). */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function errorMiddleware(log: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: 'not_found', message: `no route for ${ctx.method} ${ctx.path}` };
      }
    } catch (error) {
      if (error instanceof ValidationError) {
        ctx.status = 400;
        ctx.body = { error: 'validation_failed', message: error.message, fields: error.problems };
      } else if (error instanceof JobNotFoundError) {
        ctx.status = 404;
        ctx.body = { error: 'job_not_found', message: error.message, id: error.jobId };
      } else if (error instanceof BulkActionNotFoundError) {
        ctx.status = 404;
        ctx.body = { error: 'bulk_action_not_found', message: error.message, id: error.bulkActionId };
      } else if (error instanceof InvalidStateError) {
        ctx.status = 409;
        ctx.body = { error: 'invalid_state', message: error.message, id: error.jobId, status: error.status };
      } else if (error instanceof ServiceUnavailableError) {
        ctx.status = 503;
        ctx.set('Retry-After', '1');
        ctx.body = { error: 'service_unavailable', message: error.message };
      } else if (isDatabaseUnavailable(error)) {
        // The request was fine; the database was not there. Nothing was stored (no statement
        // committed), so the caller may send it again, and should.
        log.warn({ method: ctx.method, path: ctx.path, reason: (error as Error).message }, `database unavailable on ${ctx.method} ${ctx.path}`);
        ctx.status = 503;
        ctx.set('Retry-After', '5');
        ctx.body = { error: 'database_unavailable', message: 'the database does not answer; nothing was stored, try again shortly' };
      } else if (error instanceof HttpError) {
        ctx.status = error.status;
        ctx.set(error.headers);
        ctx.body = { error: error.code, message: error.message };
      } else {
        // Never the answer to bad input: whatever a request holds is refused by the schema before
        // anything is stored or sent, so an input that lands here (a database error it caused, say)
        // is a defect to fix at validation, not to map. The message may carry internals; the log
        // keeps it, the caller gets a plain 500.
        log.error({ err: error, method: ctx.method, path: ctx.path }, `unhandled error on ${ctx.method} ${ctx.path}`);
        ctx.status = 500;
        ctx.body = { error: 'internal', message: 'internal error' };
      }
    }
  };
}
