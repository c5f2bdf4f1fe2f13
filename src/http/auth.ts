// Authentication for /internal routes: `Authorization: Bearer <INTERNAL_JWT_TOKEN>`, compared in
// constant time. Both sides are hashed first so that neither the content nor the length of the
// token leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function requireInternalToken(token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token);
  return async (ctx: Context, next: Next): Promise<void> => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="switchyard-internal"' };
    if (expected === undefined) {
      throw new HttpError(401, 'unauthorized', 'internal routes are disabled: INTERNAL_JWT_TOKEN is not set', challenge);
    }
    if (!match || !timingSafeEqual(digest(match[1]!.trim()), expected)) {
      throw new HttpError(401, 'unauthorized', 'a valid internal bearer token is required', challenge);
    }
    await next();
  };
}
