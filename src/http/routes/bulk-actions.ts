// Bulk actions (/v1/bulk-actions): retry, cancel or dead-letter every job matching a filter, and
// follow a run's progress. An app key acts on its own app's jobs only.
import { Router } from '@koa/router';
import type { Caller } from '../../apps/app-keys.ts';
import type { BulkActions } from '../../admin/bulk-actions.ts';
import { appScope, scopeBody } from '../app-auth.ts';
import { readJsonBody } from '../body.ts';

export function bulkActionRoutes(bulk: BulkActions, bodyLimitBytes: number): Router {
  const router = new Router({ prefix: '/v1/bulk-actions' });
  router.post('/', async (ctx) => {
    const body = await readJsonBody(ctx, bodyLimitBytes) as { filter?: unknown } | null;
    const scoped = body !== null && typeof body === 'object' && !Array.isArray(body) ? { ...body, filter: scopeBody(ctx, body.filter) } : body;
    const caller = ctx.state.caller as Caller;
    const started = await bulk.start(scoped, { appScope: appScope(ctx), by: caller.keyId });
    // 202: the run goes on after the answer; follow it with GET. 200: a dry run, nothing changed.
    ctx.status = 'dryRun' in started ? 200 : 202;
    ctx.body = started;
  });
  router.get('/', async (ctx) => {
    ctx.body = { bulkActions: await bulk.list(appScope(ctx)) };
  });
  router.get('/:id', async (ctx) => {
    ctx.body = await bulk.get(ctx.params.id!, appScope(ctx));
  });
  router.post('/:id/cancel', async (ctx) => {
    ctx.body = await bulk.cancel(ctx.params.id!, appScope(ctx));
  });
  return router;
}
