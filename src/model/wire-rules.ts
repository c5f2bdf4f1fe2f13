// The value rules behind the message schema: each says what a value must be to survive the place it
// ends up in (a PostgreSQL jsonb column, an HTTP header, a URL, an SQS message), so that anything the
// schema accepts can be stored and sent as given. message-schema.ts applies them; nothing else
// should need to know them.

/**
 * PostgreSQL text and jsonb cannot hold U+0000, and an unpaired UTF-16 surrogate has no UTF-8 form
 * (jsonb refuses its escape; a text column would store U+FFFD in its place, a different value).
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

export const STORABLE_TEXT_MESSAGE = 'must be text PostgreSQL can store: no \\u0000 and no unpaired UTF-16 surrogate';

/** RFC 9110 token: what a header name may be. */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const HEADER_NAME_MESSAGE = 'must be an HTTP header name (RFC 9110 token: letters, digits and !#$%&\'*+-.^_`|~)';

/**
 * RFC 9110 field value, in the part of it every HTTP stack carries alike: visible ASCII, with spaces
 * and tabs inside but not at either end (they would be trimmed away). No CR, LF or NUL, which would
 * end the header; no other control characters; no bytes past ASCII, which undici refuses above
 * U+00FF and sends as Latin-1 below it.
 */
export const HEADER_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?$/;
export const HEADER_VALUE_MESSAGE = 'must be an HTTP header value: printable ASCII, spaces and tabs allowed inside but not at either end, no CR, LF or other control characters';

const PERCENT_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * Why a URL path would not reach the target as given, or undefined. The WHATWG URL parser the HTTP
 * client uses removes tabs and newlines, reads `\` as `/`, and resolves `.` and `..` segments (also
 * when written %2e); a `%` not starting an escape would reach the target as a malformed one.
 * Everything else that URLs do not carry raw (spaces, non-ASCII, ? and #) is percent-encoded.
 */
export function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must start with /';
  if (/[\t\n\r]/.test(path)) return 'must not contain tabs or line breaks';
  if (path.includes('\\')) return 'must not contain \\ (percent-encode it as %5C)';
  if (PERCENT_ESCAPE.test(path)) return 'has a % that does not start a percent-escape (write a literal % as %25)';
  if (path.split('/').some((segment) => DOT_SEGMENT.test(segment))) return 'must not contain . or .. segments (they would be resolved away)';
  return undefined;
}

/** Why a target URL would not be called as written, or undefined (whether it parses at all is the schema's check). */
export function targetUrlProblem(value: string): string | undefined {
  if (/[\x00-\x20\x7f]/.test(value)) return 'must not contain spaces or control characters (percent-encode them)';
  if (value.includes('\\')) return 'must not contain \\ (the URL parser reads it as /; percent-encode it as %5C)';
  // Read from the text as written, without parsing it: create checks every URL it is given.
  const [, authority = '', rawPath = ''] = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^?#]*)/i.exec(value) ?? [];
  if (authority.includes('@')) return 'must not carry credentials; send them in a header';
  if (rawPath.split('/').some((segment) => DOT_SEGMENT.test(segment))) return 'must not contain . or .. segments (they would be resolved away)';
  if (value.includes('#')) return 'must not have a #fragment (it is never sent)';
  return undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/** Standard base64 (RFC 4648 section 4), padding optional: what `isBase64Encoded` bodies must be. */
export function isBase64(value: string): boolean {
  return BASE64.test(value);
}

/** Deeper JSON than this is refused: no job needs it, and each level costs stack in every parser on the way. */
const MAX_JSON_DEPTH = 32;

// Numbers JSON.stringify writes without an exponent. Outside this range it writes 1e+300, which jsonb
// gives back as 301 digits: the same value, but a stored job would no longer fit the SQS message it
// was measured for.
const MIN_MAGNITUDE = 1e-6;
const MAX_MAGNITUDE = 1e21;

export interface ValueProblem {
  path: (string | number)[];
  message: string;
}

/**
 * The problems of a free-form JSON value (metadata, a legacy body) as jsonb will store it: text as
 * above in every string and key, finite numbers in the range written without an exponent (JSON.parse
 * makes 1e400 Infinity, which would be stored as null), at most MAX_JSON_DEPTH levels.
 */
export function jsonValueProblems(value: unknown, path: (string | number)[] = [], depth = 0): ValueProblem[] {
  if (typeof value === 'string') return isStorableText(value) ? [] : [{ path, message: STORABLE_TEXT_MESSAGE }];
  if (typeof value === 'number') {
    const magnitude = Math.abs(value);
    const fine = Number.isFinite(value) && (magnitude === 0 || (magnitude >= MIN_MAGNITUDE && magnitude < MAX_MAGNITUDE));
    return fine ? [] : [{ path, message: `must be a finite number, 0 or between ${MIN_MAGNITUDE} and ${MAX_MAGNITUDE} in magnitude` }];
  }
  if (value === null || typeof value !== 'object') return [];
  if (depth >= MAX_JSON_DEPTH) return [{ path, message: `nests deeper than ${MAX_JSON_DEPTH} levels` }];
  if (Array.isArray(value)) return value.flatMap((item, index) => jsonValueProblems(item, [...path, index], depth + 1));
  return Object.entries(value).flatMap(([key, item]) => [
    ...(isStorableText(key) ? [] : [{ path: [...path, key], message: `has a key that ${STORABLE_TEXT_MESSAGE}` }]),
    ...jsonValueProblems(item, [...path, key], depth + 1),
  ]);
}

/** The part of a proxy message that makes up the URL a target is called at. */
export interface UrlParts {
  path: string;
  queryStringParameters?: Record<string, string> | null;
  multiValueQueryStringParameters?: Record<string, string[]> | null;
}

/**
 * The URL a rest-api or lambda-url job calls: the base URL's path joined with the message's path,
 * then the query. The multi-value map wins where both name a key, as in API Gateway, where it holds
 * every value and the single-value map only the last one. Create measures this URL; the executors
 * send it.
 */
export function targetUrl(base: string, message: UrlParts): URL {
  const url = new URL(base);
  const basePath = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  url.pathname = basePath + message.path;
  const multiQuery = message.multiValueQueryStringParameters ?? {};
  for (const [key, values] of Object.entries(multiQuery)) for (const value of values) url.searchParams.append(key, value);
  for (const [key, value] of Object.entries(message.queryStringParameters ?? {})) {
    if (!Object.hasOwn(multiQuery, key)) url.searchParams.append(key, value);
  }
  return url;
}

/** Text made storable, for what must be recorded whatever it holds (a rejected message and why). */
export function toStorableText(value: string): string {
  return value.toWellFormed().replaceAll('\u0000', '\\u0000');
}
