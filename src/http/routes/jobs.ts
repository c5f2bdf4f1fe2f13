// Public job routes (/v1).
import { Router } from '@koa/router';
import type { JobService } from '../../jobs/job-service.ts';
import { incomingTraceContext } from '../../ops/trace.ts';
import { scopeBody } from '../app-auth.ts';
import { readJsonBody } from '../body.ts';

export function jobRoutes(jobs: JobService, bodyLimitBytes: number): Router {
  const router = new Router({ prefix: '/v1/jobs' });
  router.post('/create', async (ctx) => {
    const job = await jobs.create(scopeBody(ctx, await readJsonBody(ctx, bodyLimitBytes)), incomingTraceContext(ctx.headers));
    // 202: accepted and stored, not yet run. 200: the idempotency key named an earlier job.
    ctx.status = job.created ? 202 : 200;
    ctx.body = { id: job.id, status: job.status };
  });
  return router;
}
