// The legacy contract, kept so applications written against the old service work unchanged:
// POST /v1/jobs/callback-http creates a job, POST /internal/v1/jobs/run runs due DB-lane jobs
// (the same as /internal/v1/run-db-jobs).
import { Router } from '@koa/router';
import { z } from 'zod';
import type { JobIntake } from '../../admin/job-intake.ts';
import type { JobService } from '../../jobs/job-service.ts';
import { parseOrThrow } from '../../jobs/validation.ts';
import { incomingTraceContext } from '../../ops/trace.ts';
import { scopeBody } from '../app-auth.ts';
import { requireInternalToken } from '../auth.ts';
import { readJsonBody } from '../body.ts';

export const LegacyRunRequest = z.strictObject({ limit: z.int().min(1).max(1000).default(100) });

export function legacyRoutes(jobs: JobService, intake: JobIntake, internalToken: string | undefined, bodyLimitBytes: number): Router {
  const router = new Router();
  router.post('/v1/jobs/callback-http', async (ctx) => {
    const job = await intake.createCallbackHttp(scopeBody(ctx, await readJsonBody(ctx, bodyLimitBytes)), incomingTraceContext(ctx.headers));
    ctx.status = 202;
    ctx.body = { id: job.id, status: job.status };
  });
  router.post('/internal/v1/jobs/run', requireInternalToken(internalToken), async (ctx) => {
    const { limit } = parseOrThrow(LegacyRunRequest, ctx.get('content-length') === '0' ? {} : await readJsonBody(ctx, bodyLimitBytes));
    ctx.body = await jobs.runDue(limit);
  });
  return router;
}
