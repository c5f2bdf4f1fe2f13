// Sends one HTTP request for an executor and classifies what came back.
//
// It uses undici's `request` over a keep-alive Agent rather than fetch (what ky runs on). Measured
// with `npm run bench -- --quick` (5,000 rest-api jobs to a loopback target), the service spent
// 1,378 µs of CPU per executed job with ky and 510 µs with `request`: fetch's WHATWG layer
// (Request/Response objects, web streams, signal plumbing) was most of the executor's cost
// (docs/performance.md).
import { errors, request, type Dispatcher } from 'undici';
import { attemptDeadline } from './attempt-deadline.ts';
import type { Outcome } from './executor.ts';
import { outcomeForStatus, readExcerpt } from './http-outcome.ts';
import type { HttpRequestSpec } from './proxy-request.ts';
import { findRefusal } from './ssrf-guard.ts';

/**
 * Keep-alive settings for the executors' dispatcher: one pool per target origin, its sockets kept
 * open between jobs, since a connection per request would cost a TCP handshake each and leave the
 * target a socket in TIME_WAIT each.
 */
export const KEEP_ALIVE = { keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 };

function flatHeaders(headers: Headers): string[] {
  const flat: string[] = [];
  headers.forEach((value, name) => flat.push(name, value));
  return flat;
}

/** The most specific cause a network error gives (ECONNREFUSED, ENOTFOUND, …), found down its cause chain. */
function describeNetworkError(error: unknown): string {
  let current = error as { code?: unknown; message?: string; cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === 'string' && /^E[A-Z_]+$/.test(current.code)) return `${current.code}${current.message ? ` (${current.message})` : ''}`;
    current = current.cause as typeof current;
  }
  return (error as Error).message;
}

/**
 * Sends one request through `dispatcher` (the SSRF guard's) and classifies what came back.
 * Redirects are not followed: the job names its target, and a redirect could point anywhere (a
 * private address, a host that should not see the signature or credentials), so a 3xx fails the
 * attempt and says so.
 */
export async function sendHttp(spec: HttpRequestSpec, timeoutMs: number, signal: AbortSignal, dispatcher: Dispatcher): Promise<Outcome> {
  const started = performance.now();
  const deadline = attemptDeadline(timeoutMs, signal);
  try {
    const response = await request(spec.url, {
      dispatcher,
      method: spec.method as 'GET',
      headers: flatHeaders(spec.headers),
      body: spec.body,
      signal: deadline.signal,
      // undici's own limits (300 s each) would otherwise cut a longer job timeout short.
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const excerpt = await readExcerpt(response.body);
    const summary = { status: response.statusCode, durationMs: Math.round(performance.now() - started), ...excerpt };
    if (summary.status >= 300 && summary.status < 400) {
      return { kind: 'fail', reason: `HTTP ${summary.status}: redirects are not followed; point the job at the final URL`, response: summary };
    }
    return outcomeForStatus(summary);
  } catch (error) {
    const durationMs = Math.round(performance.now() - started);
    const refusal = findRefusal(error);
    if (refusal) return { kind: 'fail', reason: refusal.message };
    if (deadline.timedOut() || error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError) {
      return { kind: 'retry', reason: `timed out after ${timeoutMs} ms` };
    }
    if (signal.aborted) return { kind: 'retry', reason: `attempt abandoned (shutdown or expiry) after ${durationMs} ms` };
    return { kind: 'retry', reason: `network error: ${describeNetworkError(error)}` };
  } finally {
    deadline.dispose();
  }
}
