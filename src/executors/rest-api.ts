// rest-api: the proxy message as a plain HTTP request to `baseUrl`, through undici (see http-send.ts).
import { sendHttp } from './http-send.ts';
import type { RestApiExecution } from '../jobs/message-schema.ts';
import type { ExecutionRequest, Executor } from './executor.ts';
import { buildProxyRequest } from './proxy-request.ts';

export interface RestApiOptions {
  defaultTimeoutMs: number;
}

/** Headers the target can use to recognise a job and an attempt, and to make its own work idempotent. */
export function jobHeaders(request: ExecutionRequest): Record<string, string> {
  const headers: Record<string, string> = {
    'Switchyard-Job-Id': request.jobId,
    'Switchyard-Attempt': String(request.attempt),
  };
  if (request.idempotencyKey) headers['Idempotency-Key'] = request.idempotencyKey;
  return headers;
}

export function createRestApiExecutor(options: RestApiOptions): Executor {
  return {
    type: 'rest-api',
    async execute(request) {
      const execution = request.execution as RestApiExecution;
      const spec = buildProxyRequest(execution.baseUrl, request.lambdaProxyMessage, {
        ...execution.headers,
        ...jobHeaders(request),
      });
      return sendHttp(spec, execution.timeoutMs ?? options.defaultTimeoutMs, request.signal);
    },
  };
}
