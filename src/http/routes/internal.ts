// Internal routes (/internal/v1): the entry points Serverless-scheduled functions call.
import { Router } from '@koa/router';
import { z } from 'zod';
import type { JobService } from '../../jobs/job-service.ts';
import { parseOrThrow } from '../../jobs/validation.ts';
import { requireInternalToken } from '../auth.ts';
import { readJsonBody } from '../body.ts';

const RunRequest = z.strictObject({ limit: z.int().min(1).max(1000).default(100) });

export function internalRoutes(jobs: JobService, internalToken: string | undefined, bodyLimitBytes: number): Router {
  const router = new Router({ prefix: '/internal/v1' });
  router.use(requireInternalToken(internalToken));
  router.post('/run-db-jobs', async (ctx) => {
    const { limit } = parseOrThrow(RunRequest, ctx.get('content-length') === '0' ? {} : await readJsonBody(ctx, bodyLimitBytes));
    ctx.body = await jobs.runDue(limit);
  });
  return router;
}
