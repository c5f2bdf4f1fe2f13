// How an HTTP answer or error becomes an outcome. One classification for every HTTP-shaped
// executor: network errors, timeouts, 408, 425, 429 and 5xx are worth retrying; other 4xx mean the
// request itself is wrong, and sending it again would only fail again.
import type { Outcome, ResponseSummary } from './executor.ts';

export const RESPONSE_EXCERPT_BYTES = 4096;

const RETRYABLE_STATUS = new Set([408, 425, 429]);

export function isRetryableStatus(status: number): boolean {
  return status >= 500 || RETRYABLE_STATUS.has(status);
}

export function outcomeForStatus(response: ResponseSummary): Outcome {
  if (response.status >= 200 && response.status < 400) return { kind: 'ok', response };
  const reason = `HTTP ${response.status}`;
  return isRetryableStatus(response.status) ? { kind: 'retry', reason, response } : { kind: 'fail', reason, response };
}

/**
 * Reads at most RESPONSE_EXCERPT_BYTES of a body, then lets the rest go. Takes any async iterable
 * of bytes: a fetch body (a web stream) or an undici body (a Node stream); leaving the loop early
 * cancels either, so an endless response does not hold the connection.
 */
export async function readExcerpt(body: AsyncIterable<Uint8Array> | null): Promise<{ body: string; truncated: boolean }> {
  if (!body) return { body: '', truncated: false };
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size > RESPONSE_EXCERPT_BYTES) break;
  }
  const bytes = Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES);
  return { body: bytes.toString('utf8'), truncated: size > RESPONSE_EXCERPT_BYTES };
}
