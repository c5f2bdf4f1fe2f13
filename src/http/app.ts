// The Koa app: routes, auth, body limits, error mapping. No job logic lives here.
import Koa from 'koa';
import { Router } from '@koa/router';
import type { AppKeys } from '../apps/app-keys.ts';
import type { CreateRateLimit } from '../apps/create-rate-limit.ts';
import type { BulkActions } from '../admin/bulk-actions.ts';
import type { JobAdmin } from '../admin/job-admin.ts';
import type { JobIntake } from '../admin/job-intake.ts';
import type { JobService } from '../jobs/job-service.ts';
import type { ScheduledMessages } from '../scheduling/scheduled-messages.ts';
import type { SqsJobs } from '../sqs/sqs-jobs.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { requireApiKey } from './app-auth.ts';
import { errorMiddleware, HttpError } from './errors.ts';
import { dashboardRoutes, type DashboardDeps } from './dashboard/dashboard.ts';
import { createRateLimit } from './rate-limit.ts';
import { requestLog } from './request-log.ts';
import { bulkActionRoutes } from './routes/bulk-actions.ts';
import { internalRoutes } from './routes/internal.ts';
import { jobRoutes } from './routes/jobs.ts';
import { jobAdminRoutes } from './routes/job-admin.ts';
import { legacyRoutes } from './routes/legacy.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { openApiRoutes } from './routes/openapi.ts';
import { sqsRoutes } from './routes/sqs.ts';
import { scheduledMessageRoutes } from './routes/scheduled-messages.ts';

export interface AppOptions {
  jobs: JobService;
  jobAdmin: JobAdmin;
  bulkActions: BulkActions;
  jobIntake: JobIntake;
  /** The SQS side, when a queue is configured. */
  sqsJobs?: SqsJobs;
  scheduledMessages: ScheduledMessages;
  internalToken: string | undefined;
  appKeys: AppKeys;
  /** The per-app create rate, shared by every process. */
  createRateLimit: CreateRateLimit;
  bodyLimitBytes?: number;
  log: Logger;
  metrics: Metrics;
  dashboard: Omit<DashboardDeps, 'jobAdmin' | 'bulkActions' | 'appKeys'>;
  /** May read /metrics besides an admin key. */
  metricsToken: string | undefined;
}

export const MAX_URL_LENGTH = 4096;
const CREATE_PATHS = new Set(['/v1/jobs/create', '/v1/jobs/batch', '/v1/jobs/callback-http']);
// Open to all, or checking credentials of their own (/metrics takes METRICS_TOKEN too).
const PUBLIC_PATHS = new Set(['/healthz', '/openapi.json', '/metrics']);

function routedPath(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {}
  return decoded.toLowerCase().replace(/\/+$/, '');
}

export function createApp(options: AppOptions): Koa {
  const bodyLimitBytes = options.bodyLimitBytes ?? 1024 * 1024;
  const app = new Koa();
  app.use(requestLog(options.log));
  app.use(errorMiddleware(options.log));
  // Header sizes are bounded by the HTTP server (maxHeaderSize, 431); the URL gets its own bound.
  app.use(async (ctx, next) => {
    if (ctx.url.length > MAX_URL_LENGTH) throw new HttpError(414, 'uri_too_long', `the URL may be at most ${MAX_URL_LENGTH} characters`);
    await next();
  });
  const apiKey = requireApiKey(options.appKeys);
  const rateLimit = createRateLimit(options.createRateLimit);
  // Deny by default: every path but the public ones and /internal (which checks its own token) needs
  // an API key. Judged on the path as the router matches it (case-insensitive, percent-decoded,
  // trailing slash ignored), so /V1/jobs/create or /%761/jobs cannot slip past.
  app.use(async (ctx, next) => {
    const path = routedPath(ctx.path);
    // The dashboard checks its own session cookie (src/http/dashboard/).
    if (PUBLIC_PATHS.has(path) || path.startsWith('/internal/') || path === '/dashboard' || path.startsWith('/dashboard/')) return next();
    await apiKey(ctx, async () => {
      if (ctx.method === 'POST' && CREATE_PATHS.has(path)) await rateLimit(ctx, next);
      else await next();
    });
  });

  const health = new Router();
  health.get('/healthz', async (ctx) => {
    try {
      await options.jobs.healthy();
      ctx.body = { status: 'ok' };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', error: 'database_unreachable', message: 'the database does not answer' };
    }
  });

  for (const router of [
    health,
    jobRoutes(options.jobs, bodyLimitBytes),
    internalRoutes(options.jobs, options.internalToken, bodyLimitBytes),
    jobAdminRoutes(options.jobAdmin, options.jobIntake, bodyLimitBytes),
    bulkActionRoutes(options.bulkActions, bodyLimitBytes),
    legacyRoutes(options.jobs, options.jobIntake, options.internalToken, bodyLimitBytes),
    sqsRoutes(options.sqsJobs, options.internalToken, bodyLimitBytes),
    openApiRoutes(),
    metricsRoutes(options.metrics, options.appKeys, options.metricsToken),
    dashboardRoutes({ ...options.dashboard, jobAdmin: options.jobAdmin, bulkActions: options.bulkActions, appKeys: options.appKeys }),
    scheduledMessageRoutes(options.scheduledMessages, options.internalToken, bodyLimitBytes),
  ]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
