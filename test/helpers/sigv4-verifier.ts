// An independent SigV4 check for the lambda-url tests, written from the AWS documentation
// ("Create a signed AWS API request": canonical request, string to sign, signing key), sharing no
// code with the signer under test. It answers 403 with the reason when anything does not match.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ReceivedRequest } from './target.ts';

export interface VerifierKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  region: string;
  service: string;
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

// RFC 3986 unreserved characters stay; everything else is %XX with upper-case hex.
function uriEncode(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((byte) => {
    const char = String.fromCharCode(byte);
    return /[A-Za-z0-9\-_.~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  const pairs = rawQuery.split('&').map((pair) => {
    const [name, value = ''] = pair.split('=');
    return [uriEncode(decodeURIComponent(name!)), uriEncode(decodeURIComponent(value))] as const;
  });
  pairs.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

export type Verdict = { ok: true } | { ok: false; reason: string };

export function verifySigV4(request: ReceivedRequest, keys: VerifierKeys, now = Date.now()): Verdict {
  const authorization = String(request.headers.authorization ?? '');
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(authorization);
  if (!match) return { ok: false, reason: 'no SigV4 Authorization header' };
  const [, accessKeyId, day, region, service, signedHeaderList, signature] = match;
  if (accessKeyId !== keys.accessKeyId) return { ok: false, reason: 'unknown access key' };
  if (region !== keys.region || service !== keys.service) return { ok: false, reason: `wrong scope ${region}/${service}` };

  const amzDate = String(request.headers['x-amz-date'] ?? '');
  const signedAt = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!signedAt || amzDate.slice(0, 8) !== day) return { ok: false, reason: 'x-amz-date missing or not the credential date' };
  const [, y, mo, d, h, mi, s] = signedAt.map(Number);
  if (Math.abs(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!) - now) > 5 * 60_000) return { ok: false, reason: 'signed more than 5 minutes away from now' };

  const signedHeaders = signedHeaderList!.split(';');
  for (const required of ['host', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token']) {
    if (!signedHeaders.includes(required)) return { ok: false, reason: `${required} is not signed` };
  }
  if (request.headers['x-amz-security-token'] !== keys.sessionToken) return { ok: false, reason: 'wrong session token' };
  const payloadHash = sha256Hex(request.body);
  if (request.headers['x-amz-content-sha256'] !== payloadHash) return { ok: false, reason: 'x-amz-content-sha256 does not match the body' };

  const [rawPath, rawQuery = ''] = request.url.split('?');
  // Services other than S3 encode each path segment once more on top of the request's own encoding.
  const canonicalUri = rawPath!.split('/').map(uriEncode).join('/');
  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${String(request.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [request.method, canonicalUri, canonicalQuery(rawQuery), canonicalHeaders, signedHeaderList, payloadHash].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${keys.secretAccessKey}`, day!), region!), service!), 'aws4_request');
  const expected = hmac(signingKey, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature!, 'hex'))) return { ok: false, reason: 'signature does not match' };
  return { ok: true };
}
