// The Koa app: routes, auth, body limits, error mapping. No job logic lives here.
import Koa from 'koa';
import { Router } from '@koa/router';
import type { JobAdmin } from '../jobs/job-admin.ts';
import type { JobIntake } from '../jobs/job-intake.ts';
import type { JobService } from '../jobs/job-service.ts';
import { errorMiddleware } from './errors.ts';
import { internalRoutes } from './routes/internal.ts';
import { jobRoutes } from './routes/jobs.ts';
import { jobAdminRoutes } from './routes/job-admin.ts';
import { legacyRoutes } from './routes/legacy.ts';
import { openApiRoutes } from './routes/openapi.ts';

export interface AppOptions {
  jobs: JobService;
  jobAdmin: JobAdmin;
  jobIntake: JobIntake;
  internalToken: string | undefined;
  bodyLimitBytes?: number;
  log?: (message: string) => void;
}

export function createApp(options: AppOptions): Koa {
  const bodyLimitBytes = options.bodyLimitBytes ?? 1024 * 1024;
  const app = new Koa();
  app.use(errorMiddleware(options.log ?? console.error));

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
    legacyRoutes(options.jobs, options.jobIntake, options.internalToken, bodyLimitBytes),
    openApiRoutes(),
  ]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
