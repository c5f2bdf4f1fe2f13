// A per-app token bucket on job creation. It lives in this process's memory: with several
// processes behind a load balancer each allows the configured rate, so the fleet allows N times it.
// That is enough to stop one app's runaway loop from starving the others, which is its purpose.
import type { Context, Next } from 'koa';
import { appScope } from './app-auth.ts';
import { HttpError } from './errors.ts';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

// Buckets idle long enough to have refilled are dropped, so memory tracks active apps only.
const SWEEP_EVERY = 1000;

export function createRateLimit(settings: { perSecond: number; burst: number }, now: () => number = () => performance.now()) {
  const buckets = new Map<string, Bucket>();
  let calls = 0;
  return async (ctx: Context, next: Next): Promise<void> => {
    const appId = appScope(ctx);
    // Admin keys are operators' and scripts' credentials, trusted not to need a guard against a loop.
    if (appId === undefined || settings.perSecond === 0) return next();
    const at = now();
    if (++calls % SWEEP_EVERY === 0) {
      for (const [key, bucket] of buckets) if ((at - bucket.updatedAt) / 1000 * settings.perSecond >= settings.burst) buckets.delete(key);
    }
    const bucket = buckets.get(appId) ?? { tokens: settings.burst, updatedAt: at };
    bucket.tokens = Math.min(settings.burst, bucket.tokens + ((at - bucket.updatedAt) / 1000) * settings.perSecond);
    bucket.updatedAt = at;
    buckets.set(appId, bucket);
    if (bucket.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / settings.perSecond));
      throw new HttpError(429, 'rate_limited', `app "${appId}" may create ${settings.perSecond} jobs per second (bursts of ${settings.burst}); try again in ${retryAfter} s`, { 'Retry-After': String(retryAfter) });
    }
    bucket.tokens -= 1;
    await next();
  };
}
