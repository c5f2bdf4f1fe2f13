// One log line per API request: method, the route it matched (not the raw path, so ids do not
// split one route into a million series), status, duration and the calling app. Never a header:
// the authorization header, API keys and signatures stay out of every log line.
import type { Context, Next } from 'koa';
import type { Caller } from '../apps/app-keys.ts';
import type { Logger } from '../ops/log.ts';

export function requestLog(log: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const caller = ctx.state.caller as Caller | undefined;
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute;
      log.info({
        method: ctx.method,
        route: route ?? null,
        status: ctx.status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        app: caller === undefined ? undefined : caller.kind === 'app' ? caller.appId : 'admin',
      }, `${ctx.method} ${route ?? ctx.path} ${ctx.status}`);
    }
  };
}
