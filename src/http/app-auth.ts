// Authentication for /v1 routes: `Authorization: Bearer <API key>`, resolved to the calling app or to
// an admin. An app key acts only on its own jobs: the app comes from the key, a body naming another
// app is refused (403), and another app's job answers 404 exactly as a job that does not exist, so a
// key cannot even learn which job ids other apps hold.
import type { Context, Next } from 'koa';
import type { AppKeys, Caller } from '../apps/app-keys.ts';
import { HttpError } from './errors.ts';

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="switchyard"' };

export function requireApiKey(keys: AppKeys) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(ctx.get('authorization'));
    if (!match) throw new HttpError(401, 'unauthorized', 'send an API key as Authorization: Bearer <key>', CHALLENGE);
    const caller = await keys.authenticate(match[1]!);
    if (!caller) throw new HttpError(401, 'unauthorized', 'the API key is not valid (unknown or revoked)', CHALLENGE);
    ctx.state.caller = caller;
    await next();
  };
}

function callerOf(ctx: Context): Caller {
  const caller = ctx.state.caller as Caller | undefined;
  if (!caller) throw new Error('route mounted without requireApiKey');
  return caller;
}

/** The app a caller's jobs are limited to, or undefined for an admin. */
export function appScope(ctx: Context): string | undefined {
  const caller = callerOf(ctx);
  return caller.kind === 'app' ? caller.appId : undefined;
}

/**
 * Applies the caller's app to a create body: an app key's body may leave appId out (the key says
 * which app) and may not name another app. Admin bodies pass unchanged. Not an object: left to the
 * schema to refuse.
 */
export function scopeBody(ctx: Context, body: unknown, field = 'appId'): unknown {
  const appId = appScope(ctx);
  if (appId === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const named = (body as Record<string, unknown>)[field];
  if (named === undefined) return { ...body, [field]: appId };
  if (named !== appId) {
    throw new HttpError(403, 'forbidden', `this API key belongs to app "${appId}" and cannot act for ${field} ${JSON.stringify(named).slice(0, 140)}`);
  }
  return body;
}
