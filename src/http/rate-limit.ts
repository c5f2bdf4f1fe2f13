// The per-app create rate limit as middleware: an app-key request to a create route takes one create
// from its app's budget, shared by every process (src/apps/create-rate-limit.ts), or gets 429.
import type { Context, Next } from 'koa';
import type { CreateRateLimit } from '../apps/create-rate-limit.ts';
import { appScope } from './app-auth.ts';
import { HttpError } from './errors.ts';

export function createRateLimit(limit: CreateRateLimit) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const appId = appScope(ctx);
    // Admin keys are operators' and scripts' credentials, trusted not to need a guard against a loop.
    if (appId === undefined) return next();
    const allowance = await limit.take(appId);
    if (!allowance.allowed) {
      const { perSecond, burst } = limit.rate;
      const retryAfter = allowance.retryAfterSeconds;
      throw new HttpError(429, 'rate_limited', `app "${appId}" may create ${perSecond} jobs per second (bursts of ${burst}); try again in ${retryAfter} s`, { 'Retry-After': String(retryAfter) });
    }
    await next();
  };
}
