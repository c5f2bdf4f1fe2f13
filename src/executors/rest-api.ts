// rest-api: the proxy message as a plain HTTP request to `baseUrl`, signed for the receiver, sent
// through the SSRF guard's dispatcher (see http-send.ts).
import type { Dispatcher } from 'undici';
import type { RestApiExecution } from '../model/message-schema.ts';
import { SIGNATURE_HEADER, signRequest, signStandardWebhook } from '../signature.ts';
import type { ExecutionRequest, Executor } from './executor.ts';
import { sendHttp } from './http-send.ts';
import { buildProxyRequest, type HttpRequestSpec } from './proxy-request.ts';

export interface RestApiOptions {
  defaultTimeoutMs: number;
  /** The SSRF guard's dispatcher (createGuardedDispatcher); every connection goes through it. */
  dispatcher: Dispatcher;
}

/** Headers the target can use to recognise a job and an attempt, make its own work idempotent, and trace it. */
export function jobHeaders(request: ExecutionRequest): Record<string, string> {
  const headers: Record<string, string> = {
    'Switchyard-Job-Id': request.jobId,
    'Switchyard-Attempt': String(request.attempt),
  };
  if (request.idempotencyKey) headers['Idempotency-Key'] = request.idempotencyKey;
  // W3C trace context, so the call shows up in the trace of the request that created the job.
  if (request.trace) {
    headers.traceparent = request.trace.traceparent;
    if (request.trace.tracestate) headers.tracestate = request.trace.tracestate;
  }
  return headers;
}

/**
 * Signs the request as it will be sent, for its receiver: Switchyard-Signature and the Standard
 * Webhooks headers, with the app's secrets and one timestamp. The message id is the job id, so an
 * attempt's retry, or a retry by hand, is recognisably the same message. Headers of these names
 * in the job itself are replaced: a job cannot choose its own signature.
 */
export function signForReceiver(spec: HttpRequestSpec, request: ExecutionRequest, now: Date = new Date()): void {
  const secrets = request.signingSecrets;
  if (!secrets?.length) return;
  spec.headers.set(SIGNATURE_HEADER, signRequest({ method: spec.method, url: spec.url.href, body: spec.body }, secrets, now));
  for (const [name, value] of Object.entries(signStandardWebhook({ id: request.jobId, body: spec.body }, secrets, now))) spec.headers.set(name, value);
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
      signForReceiver(spec, request);
      return sendHttp(spec, execution.timeoutMs ?? options.defaultTimeoutMs, request.signal, options.dispatcher);
    },
  };
}
