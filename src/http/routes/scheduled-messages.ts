// POST /internal/v1/process-scheduled-message: the HTTP form of the scheduled-message callback, for
// deployments whose EventBridge schedules call an HTTP endpoint (an API destination) rather than the
// Lambda handler. The body is the schedule's Input.
import { Router } from '@koa/router';
import type { ScheduledMessages } from '../../scheduling/scheduled-messages.ts';
import { requireInternalToken } from '../auth.ts';
import { readJsonBody } from '../body.ts';

export function scheduledMessageRoutes(scheduledMessages: ScheduledMessages, internalToken: string | undefined, bodyLimitBytes: number): Router {
  const router = new Router({ prefix: '/internal/v1' });
  router.use(requireInternalToken(internalToken));
  router.post('/process-scheduled-message', async (ctx) => {
    ctx.body = await scheduledMessages.process(await readJsonBody(ctx, bodyLimitBytes));
  });
  return router;
}
