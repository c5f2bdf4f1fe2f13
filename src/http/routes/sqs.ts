// POST /internal/v1/poll-sqs: the cron entry point of the SQS lane.
import { Router } from '@koa/router';
import { z } from 'zod';
import type { SqsJobs } from '../../sqs/sqs-jobs.ts';
import { parseOrThrow } from '../../jobs/validation.ts';
import { requireInternalToken } from '../auth.ts';
import { readJsonBody } from '../body.ts';
import { HttpError } from '../errors.ts';

export const PollRequest = z.strictObject({ limit: z.int().min(1).max(100).default(10) });

export function sqsRoutes(sqsJobs: SqsJobs | undefined, internalToken: string | undefined, bodyLimitBytes: number): Router {
  const router = new Router({ prefix: '/internal/v1' });
  router.use('/poll-sqs', requireInternalToken(internalToken));
  router.post('/poll-sqs', async (ctx) => {
    const { limit } = parseOrThrow(PollRequest, ctx.get('content-length') === '0' ? {} : await readJsonBody(ctx, bodyLimitBytes));
    if (!sqsJobs) throw new HttpError(409, 'sqs_not_configured', 'there is no SQS queue to poll: AWS_SQS_QUEUE_URL is not set');
    ctx.body = await sqsJobs.poll(limit);
  });
  return router;
}
