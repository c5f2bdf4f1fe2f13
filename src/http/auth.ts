// Authentication for /internal routes: `Authorization: Bearer <INTERNAL_JWT_TOKEN>`, compared in
// constant time (both sides hashed first, so neither the content nor the length of the token leaks
// through timing), or `Bearer <JWT>`: HS256, signed with INTERNAL_JWT_TOKEN, carrying `exp`, so a
// scheduler can send short-lived tokens instead of the secret itself.
import { createHash, timingSafeEqual } from 'node:crypto';
import { jwtVerify } from 'jose';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Compares a presented secret with the expected one in constant time: both are hashed first, so
 * neither the content nor the length of the secret leaks through timing.
 */
export function secretMatcher(expected: string): (candidate: string) => boolean {
  const want = digest(expected);
  return (candidate) => timingSafeEqual(digest(candidate), want);
}

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

async function isValidJwt(candidate: string, key: Uint8Array): Promise<boolean> {
  if (!JWT_SHAPE.test(candidate)) return false;
  try {
    await jwtVerify(candidate, key, { algorithms: ['HS256'], requiredClaims: ['exp'] });
    return true;
  } catch {
    return false;
  }
}

export function requireInternalToken(token: string | undefined) {
  const expected = token === undefined ? undefined : secretMatcher(token);
  const jwtKey = token === undefined ? undefined : new TextEncoder().encode(token);
  return async (ctx: Context, next: Next): Promise<void> => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="switchyard-internal"' };
    if (expected === undefined) {
      throw new HttpError(401, 'unauthorized', 'internal routes are disabled: INTERNAL_JWT_TOKEN is not set', challenge);
    }
    const candidate = match?.[1]!.trim();
    const valid = candidate !== undefined
      && (expected(candidate) || await isValidJwt(candidate, jwtKey!));
    if (!valid) {
      throw new HttpError(401, 'unauthorized', 'a valid internal bearer token is required', challenge);
    }
    await next();
  };
}
