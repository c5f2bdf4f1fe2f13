// Signed outgoing requests, so a receiver can tell a call from Switchyard from a forgery. This file
// is the package's public entry for receivers (`import { verifySignature } from 'switchyard/signature'`)
// and what the executors sign with; it depends on nothing but node:crypto. Every request carries
// two signatures by the same app secret(s); docs/receiving.md states both exactly, with test vectors.
//
// Switchyard-Signature, verified with verifySignature below; it also covers the method and the URL:
//   Switchyard-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]
//   signed: HMAC-SHA256(secret, "<t>\n<METHOD>\n<full URL>\n<hex SHA-256 of the body bytes>")
//
// Standard Webhooks (standardwebhooks.com), for receivers in any language with its libraries:
//   webhook-id: <job id>   webhook-timestamp: <t>   webhook-signature: v1,<base64>[ v1,<base64>]
//   signed: HMAC-SHA256(key, "<webhook-id>.<t>.<body bytes>"), key = standardWebhooksKey(secret)
//
// While an app's secret is being rotated each header carries one v1 per secret (current, then
// next), so a receiver configured with either the old or the new secret accepts it; the receiver
// may likewise pass both while it switches.
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export const SIGNATURE_HEADER = 'Switchyard-Signature';
/** The Standard Webhooks headers, lower-case as the specification writes them. */
export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';
/** Five minutes: long enough for clock skew and a slow network, short enough to limit replays. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export interface SignedRequest {
  method: string;
  /** The full URL as Switchyard called it: scheme, host, path and query. */
  url: string;
  /** The raw body bytes (not a re-serialised object); empty or undefined for none. */
  body?: Uint8Array | string | undefined;
}

function payload(timestamp: number, request: SignedRequest): string {
  const bodyHash = createHash('sha256').update(request.body ?? '').digest('hex');
  return `${timestamp}\n${request.method.toUpperCase()}\n${request.url}\n${bodyHash}`;
}

function hmac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/** The header value for a request, signed with each secret given (current first). */
export function signRequest(request: SignedRequest, secrets: string[], now: Date = new Date()): string {
  if (secrets.length === 0) throw new Error('signRequest needs at least one secret');
  const timestamp = Math.floor(now.getTime() / 1000);
  const text = payload(timestamp, request);
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${hmac(secret, text)}`)].join(',');
}

export type VerifyResult =
  | { ok: true; timestamp: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

export interface VerifyOptions {
  /** One secret, or the old and new during a rotation. */
  secret: string | string[];
  /** How far the signed time may be from now, either way. */
  toleranceSeconds?: number;
  now?: Date;
}

/**
 * Checks a Switchyard-Signature header against the request the receiver got. Rejects a missing or
 * malformed header, a timestamp outside the tolerance (a replay), and a signature no secret makes.
 */
export function verifySignature(header: string | string[] | undefined | null, request: SignedRequest, options: VerifyOptions): VerifyResult {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return { ok: false, reason: 'missing' };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of value.split(',')) {
    const [key, item] = part.trim().split('=', 2);
    if (key === 't' && item && /^\d{1,12}$/.test(item)) timestamp = Number(item);
    else if (key === 'v1' && item && /^[0-9a-f]{64}$/.test(item)) signatures.push(item);
  }
  if (timestamp === undefined || signatures.length === 0) return { ok: false, reason: 'malformed' };
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - timestamp) > tolerance) return { ok: false, reason: 'stale' };

  const text = payload(timestamp, request);
  const secrets = Array.isArray(options.secret) ? options.secret : [options.secret];
  for (const secret of secrets) {
    const expected = Buffer.from(hmac(secret, text), 'hex');
    for (const signature of signatures) {
      if (timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return { ok: true, timestamp };
    }
  }
  return { ok: false, reason: 'mismatch' };
}

// The Standard Webhooks key is derived from the app's signing secret, not stored beside it: one
// secret and one rotation cover both signatures. HMAC is a PRF, so its output on this label is a
// key independent of every Switchyard-Signature value (whose signed text always holds newlines,
// so it never equals the label), and a receiver given only the derived key cannot recover the
// secret or forge a Switchyard-Signature.
const STANDARD_WEBHOOKS_KEY_LABEL = 'switchyard standard-webhooks key v1';

/** The 32-byte Standard Webhooks signing key for an app's signing secret. */
function standardWebhooksKey(signingSecret: string): Buffer {
  return createHmac('sha256', signingSecret).update(STANDARD_WEBHOOKS_KEY_LABEL).digest();
}

// Node's HMAC takes a Buffer key about six times as slowly as a KeyObject or a string (10 µs against
// 1.5 µs here, Node 24), and the derivation is an HMAC of its own: each secret's key is derived once
// and kept as a KeyObject. Bounded, as a process signs for a bounded number of apps at a time.
const WEBHOOK_KEYS_KEPT = 1_024;
const webhookKeys = new Map<string, KeyObject>();

function webhookKeyFor(signingSecret: string): KeyObject {
  let key = webhookKeys.get(signingSecret);
  if (key === undefined) {
    if (webhookKeys.size >= WEBHOOK_KEYS_KEPT) webhookKeys.delete(webhookKeys.keys().next().value!);
    key = createSecretKey(standardWebhooksKey(signingSecret));
    webhookKeys.set(signingSecret, key);
  }
  return key;
}

/**
 * The `whsec_…` secret a Standard Webhooks library verifies with (`new Webhook(secret)` in
 * JavaScript, Python and Go alike), for an app's signing secret. `npm run cli -- apps secret` prints it.
 */
export function standardWebhooksSecret(signingSecret: string): string {
  return `whsec_${standardWebhooksKey(signingSecret).toString('base64')}`;
}

export interface StandardWebhook {
  /** The message id: Switchyard sends the job id, the same on every attempt of the job. */
  id: string;
  /** The raw body bytes as sent; empty or undefined for none. */
  body?: Uint8Array | string | undefined;
}

/** The three Standard Webhooks headers for a request, signed with each secret given (current first). */
export function signStandardWebhook(message: StandardWebhook, secrets: string[], now: Date = new Date()): Record<string, string> {
  if (secrets.length === 0) throw new Error('signStandardWebhook needs at least one secret');
  const timestamp = String(Math.floor(now.getTime() / 1000));
  const signatures = secrets.map((secret) => {
    const mac = createHmac('sha256', webhookKeyFor(secret)).update(`${message.id}.${timestamp}.`).update(message.body ?? '');
    return `v1,${mac.digest('base64')}`;
  });
  return {
    [WEBHOOK_ID_HEADER]: message.id,
    [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
    [WEBHOOK_SIGNATURE_HEADER]: signatures.join(' '),
  };
}
