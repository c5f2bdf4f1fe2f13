// GET /metrics: the Prometheus exposition. Readable with an admin API key or METRICS_TOKEN (a
// token a Prometheus server can hold without being able to act on jobs); an app key is refused,
// since the counters span every app.
import { Router } from '@koa/router';
import type { AppKeys } from '../../apps/app-keys.ts';
import type { Metrics } from '../../ops/metrics.ts';
import { secretMatcher } from '../auth.ts';
import { HttpError } from '../errors.ts';

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="switchyard-metrics"' };

export function metricsRoutes(metrics: Metrics, keys: AppKeys, metricsToken: string | undefined): Router {
  const isMetricsToken = metricsToken === undefined ? () => false : secretMatcher(metricsToken);
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    const presented = /^Bearer\s+(\S{1,512})\s*$/i.exec(ctx.get('authorization'))?.[1];
    if (presented === undefined) throw new HttpError(401, 'unauthorized', 'send an admin API key or METRICS_TOKEN as Authorization: Bearer <token>', CHALLENGE);
    if (!isMetricsToken(presented)) {
      const caller = await keys.authenticate(presented);
      if (!caller) throw new HttpError(401, 'unauthorized', 'the token is neither METRICS_TOKEN nor a valid API key', CHALLENGE);
      if (caller.kind !== 'admin') throw new HttpError(403, 'forbidden', 'metrics span every app: an admin key or METRICS_TOKEN is needed');
      ctx.state.caller = caller;
    }
    const { contentType, body } = await metrics.exposition();
    ctx.type = contentType;
    ctx.body = body;
  });
  return router;
}
