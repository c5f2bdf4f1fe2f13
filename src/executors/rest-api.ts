// rest-api: the proxy message as a plain HTTP request to `baseUrl`, through ky.
import ky, { isTimeoutError } from 'ky';
import type { Dispatcher } from 'undici';
import type { RestApiExecution } from '../jobs/message-schema.ts';
import { SIGNATURE_HEADER, signRequest } from '../signature.ts';
import type { ExecutionRequest, Executor, Outcome } from './executor.ts';
import { outcomeForStatus, readExcerpt } from './http-outcome.ts';
import { buildProxyRequest, type HttpRequestSpec } from './proxy-request.ts';
import { findRefusal } from './ssrf-guard.ts';

export interface RestApiOptions {
  defaultTimeoutMs: number;
  /** The SSRF guard's dispatcher (createGuardedDispatcher); every connection goes through it. */
  dispatcher: Dispatcher;
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

/**
 * Sends one request and classifies what came back; shared with the lambda-url executor. Redirects are
 * not followed: the job names its target, a redirect could point anywhere (a private address, a
 * host that should not see the signature or credentials), so a 3xx fails the attempt and says so.
 */
export async function sendHttp(spec: HttpRequestSpec, timeoutMs: number, signal: AbortSignal, dispatcher?: Dispatcher): Promise<Outcome> {
  const started = performance.now();
  try {
    const response = await ky(spec.url, {
      method: spec.method,
      headers: spec.headers,
      body: spec.body,
      timeout: timeoutMs,
      retry: 0,
      throwHttpErrors: false,
      redirect: 'manual',
      signal,
      // Node's fetch takes an undici dispatcher; ky passes its init through to the fetch it is given.
      fetch: dispatcher === undefined ? fetch : (input, init) => fetch(input, { ...init, dispatcher } as RequestInit),
    });
    const excerpt = await readExcerpt(response.body);
    const summary = { status: response.status, durationMs: Math.round(performance.now() - started), ...excerpt };
    if (response.status >= 300 && response.status < 400) {
      return { kind: 'fail', reason: `HTTP ${response.status}: redirects are not followed; point the job at the final URL`, response: summary };
    }
    return outcomeForStatus(summary);
  } catch (error) {
    const durationMs = Math.round(performance.now() - started);
    const refusal = findRefusal(error);
    if (refusal) return { kind: 'fail', reason: refusal.message };
    if (isTimeoutError(error)) return { kind: 'retry', reason: `timed out after ${timeoutMs} ms` };
    if (signal.aborted) return { kind: 'retry', reason: 'attempt abandoned (shutdown or expiry) after ' + durationMs + ' ms' };
    return { kind: 'retry', reason: `network error: ${describeNetworkError(error)}` };
  }
}

/** The most specific cause fetch gives (ECONNREFUSED, ENOTFOUND, …), found down its cause chain. */
function describeNetworkError(error: unknown): string {
  let current = error as { code?: unknown; message?: string; cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === 'string' && /^E[A-Z_]+$/.test(current.code)) return `${current.code}${current.message ? ` (${current.message})` : ''}`;
    current = current.cause as typeof current;
  }
  return (error as Error).message;
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
      if (request.signingSecrets?.length) {
        spec.headers.set(SIGNATURE_HEADER, signRequest({ method: spec.method, url: spec.url.href, body: spec.body }, request.signingSecrets));
      }
      return sendHttp(spec, execution.timeoutMs ?? options.defaultTimeoutMs, request.signal, options.dispatcher);
    },
  };
}
