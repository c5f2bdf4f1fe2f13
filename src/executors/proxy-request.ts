// Turns an API Gateway proxy message into the HTTP request a target receives. Shared by the
// rest-api executor and the lambda-url executor, which differ only in where the request goes and
// how it is signed.
import type { LambdaProxyMessage } from '../model/message-schema.ts';
import { targetUrl } from '../model/wire-rules.ts';

export interface HttpRequestSpec {
  method: string;
  url: URL;
  headers: Headers;
  body: Uint8Array<ArrayBuffer> | undefined;
}

// Set by the HTTP client from the connection and body; a copied value would be wrong or refused.
const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection']);

/**
 * The multi-value maps win where both are given, as in API Gateway, where they hold every value and
 * the single-value maps only the last one.
 */
export function buildProxyRequest(
  baseUrl: string,
  message: LambdaProxyMessage,
  extraHeaders: Record<string, string> = {},
): HttpRequestSpec {
  const url = targetUrl(baseUrl, message);

  const headers = new Headers();
  const multiHeaders = message.multiValueHeaders ?? {};
  const multiNames = new Set(Object.keys(multiHeaders).map((key) => key.toLowerCase()));
  for (const [key, values] of Object.entries(multiHeaders)) {
    if (!HOP_BY_HOP.has(key.toLowerCase())) for (const value of values) headers.append(key, value);
  }
  for (const [key, value] of Object.entries(message.headers ?? {})) {
    if (!HOP_BY_HOP.has(key.toLowerCase()) && !multiNames.has(key.toLowerCase())) headers.set(key, value);
  }
  for (const [key, value] of Object.entries(extraHeaders)) if (!HOP_BY_HOP.has(key.toLowerCase())) headers.set(key, value);

  const hasBody = message.body !== undefined && message.body !== null && message.body !== '';
  const body = hasBody ? (message.isBase64Encoded ? Buffer.from(message.body!, 'base64') : Buffer.from(message.body!, 'utf8')) : undefined;
  return { method: message.httpMethod, url, headers, body: body && new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer) };
}
