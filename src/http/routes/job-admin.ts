// Job management routes (/v1/jobs): read and list jobs, act on one by hand, create many at once.
import { Router } from '@koa/router';
import type { JobAdmin } from '../../admin/job-admin.ts';
import type { JobIntake } from '../../admin/job-intake.ts';
import { incomingTraceContext } from '../../ops/trace.ts';
import { appScope, scopeBody } from '../app-auth.ts';
import { readJsonBody } from '../body.ts';

// A batch carries up to 1,000 jobs, so it may be larger than one create.
const BATCH_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

export function jobAdminRoutes(admin: JobAdmin, intake: JobIntake, bodyLimitBytes: number): Router {
  const router = new Router();
  router.get('/v1/jobs', async (ctx) => {
    ctx.body = await admin.list(scopeBody(ctx, { ...ctx.query }));
  });
  router.post('/v1/jobs/batch', async (ctx) => {
    const body = await readJsonBody(ctx, Math.max(bodyLimitBytes, BATCH_BODY_LIMIT_BYTES)) as { jobs?: unknown };
    const scoped = Array.isArray(body?.jobs) ? { ...body, jobs: body.jobs.map((job) => scopeBody(ctx, job)) } : body;
    const jobs = await intake.createBatch(scoped, incomingTraceContext(ctx.headers));
    // As single create: 202 when anything new was stored, 200 when every item named an earlier job.
    ctx.status = jobs.some((job) => job.created) ? 202 : 200;
    ctx.body = { jobs };
  });
  router.get('/v1/jobs/:id', async (ctx) => {
    ctx.body = await admin.get(ctx.params.id!, appScope(ctx));
  });
  router.get('/v1/jobs/:id/attempts', async (ctx) => {
    ctx.body = await admin.attempts(ctx.params.id!, appScope(ctx));
  });
  router.post('/v1/jobs/:id/retry', async (ctx) => {
    ctx.body = await admin.retry(ctx.params.id!, appScope(ctx));
  });
  router.post('/v1/jobs/:id/deadletter', async (ctx) => {
    ctx.body = await admin.deadLetter(ctx.params.id!, appScope(ctx));
  });
  router.post('/v1/jobs/:id/cancel', async (ctx) => {
    ctx.body = await admin.cancel(ctx.params.id!, appScope(ctx));
  });
  return router;
}
