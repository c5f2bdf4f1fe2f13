// Bulk actions: retry, cancel or dead-letter every job that matches a filter (app, status, type,
// group, created range), for the API, the dashboard and the CLI alike.
//
// Each job goes through the very call a single action makes (JobAdmin.retry / cancel / deadLetter),
// so the states an action accepts, the lane changes and the fencing are those of the single action
// and stay so as it changes. A run takes its candidates in chunks in (created_at, id) order; the
// advance of its cursor past a job commits in that job's own transaction (JobAdmin's `also`), so an
// interrupted run resumes right after the last job it changed, and no job is changed twice — not even
// one that failed again meanwhile. The run's row (bulk_actions) holds its counts, for progress.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Pool } from '../db/pool.ts';
import { BulkActionNotFoundError, InvalidStateError, JobNotFoundError, ValidationError } from '../model/errors.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { JobStatus } from '../jobs/job-repository.ts';
import { parseOrThrow } from '../jobs/validation.ts';
import * as repo from './bulk-action-repository.ts';
import { CANCELLABLE, DEAD_LETTERABLE, ListJobsQuery, RETRYABLE, type JobAdmin } from './job-admin.ts';

export const BulkFilter = ListJobsQuery.omit({ limit: true, cursor: true });

export const BulkActionRequest = z.strictObject({
  action: z.enum(['retry', 'cancel', 'deadletter']),
  filter: BulkFilter.refine((filter) => Object.values(filter).some((value) => value !== undefined), 'name at least one of appId, status, executionType, messageGroupId, createdAfter, createdBefore'),
  /** Count the jobs it would reach and change nothing. */
  dryRun: z.boolean().optional(),
});
export type BulkActionRequest = z.infer<typeof BulkActionRequest>;

const timestamp = z.iso.datetime();
export const BulkActionView = z.object({
  id: z.uuid(),
  action: z.enum(['retry', 'cancel', 'deadletter']),
  filter: z.record(z.string(), z.string()),
  status: z.enum(['running', 'completed', 'cancelled']),
  /** Jobs that matched when the action was made. */
  total: z.int(),
  changed: z.int(),
  /** Reached, but their state no longer allowed the action by then. */
  skipped: z.int(),
  lastError: z.string().nullable(),
  requestedBy: z.string(),
  createdAt: timestamp,
  updatedAt: timestamp,
  finishedAt: timestamp.nullable(),
});
export type BulkActionView = z.infer<typeof BulkActionView>;
export const DryRunView = z.object({ action: z.enum(['retry', 'cancel', 'deadletter']), matched: z.int(), dryRun: z.literal(true) });
export type DryRunView = z.infer<typeof DryRunView>;

const ALLOWED: Record<repo.BulkActionName, JobStatus[]> = { retry: RETRYABLE, cancel: CANCELLABLE, deadletter: DEAD_LETTERABLE };
const CHUNK = 100;
const ABANDONED_SWEEP_MS = 10_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface BulkActionsDeps {
  pool: Pool;
  jobAdmin: JobAdmin;
  log: Logger;
  metrics?: Metrics;
}

/** Who asked: an app key's actions are limited to its app; `by` is kept with the run (a key id, "dashboard"). */
export interface BulkCaller {
  appScope: string | undefined;
  by: string;
}

class LeaseLost extends Error {}

export class BulkActions {
  readonly #deps: BulkActionsDeps;
  // One lease owner per service instance: a run it holds is renewed only by it.
  readonly #owner = `bulk-${randomUUID()}`;
  readonly #running = new Map<string, Promise<void>>();
  readonly #stopping = new AbortController();
  #sweep: NodeJS.Timeout | undefined;

  constructor(deps: BulkActionsDeps) {
    this.#deps = deps;
  }

  /** Starts a run in this process (or, with dryRun, counts what it would reach). */
  async start(input: unknown, caller: BulkCaller): Promise<BulkActionView | DryRunView> {
    const request = parseOrThrow(BulkActionRequest, input);
    const filter = scoped(request.filter, caller.appScope);
    const statuses = statusesFor(request.action, filter.status);
    const total = await repo.countCandidates(this.#deps.pool, filter, statuses);
    if (request.dryRun) return { action: request.action, matched: total, dryRun: true };
    const row = await repo.insertBulkAction(this.#deps.pool, {
      id: randomUUID(), action: request.action, filter, appScope: caller.appScope ?? null, requestedBy: caller.by, total,
    });
    this.#deps.log.info({ bulkActionId: row.id, action: row.action, filter, total, by: caller.by }, `bulk ${row.action} ${row.id} started: ${total} job(s) match`);
    this.#launch(row.id);
    return toView(row);
  }

  async get(id: string, appScope?: string): Promise<BulkActionView> {
    return toView(await this.#find(id, appScope));
  }

  async list(appScope?: string, limit = 20): Promise<BulkActionView[]> {
    return (await repo.listBulkActions(this.#deps.pool, appScope, limit)).map(toView);
  }

  /** Stops a run; the jobs it already changed stay changed. A run already over is answered as it is. */
  async cancel(id: string, appScope?: string): Promise<BulkActionView> {
    const current = await this.#find(id, appScope);
    const cancelled = await repo.markCancelled(this.#deps.pool, current.id);
    return toView(cancelled ?? await this.#find(id, appScope));
  }

  /** Resumes, now and every ABANDONED_SWEEP_MS, any run whose process stopped before it ended. */
  startSweep(): void {
    const sweep = () => {
      repo.findAbandoned(this.#deps.pool, 10)
        .then((ids) => ids.forEach((id) => this.#launch(id)))
        .catch((error) => this.#deps.log.error({ reason: (error as Error).message }, `bulk actions: sweep failed: ${(error as Error).message}`));
    };
    sweep();
    this.#sweep = setInterval(sweep, ABANDONED_SWEEP_MS);
    this.#sweep.unref();
  }

  /** Stops taking jobs; a run stopped here keeps its cursor and is resumed by the next process. */
  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    this.#stopping.abort();
    await Promise.all(this.#running.values());
  }

  /** Resolves once every run this process is working on has stopped (for tests and the CLI's progress). */
  async idle(): Promise<void> {
    while (this.#running.size) await Promise.all(this.#running.values());
  }

  async #find(id: string, appScope: string | undefined): Promise<repo.BulkActionRow> {
    const row = UUID.test(id) ? await repo.findBulkAction(this.#deps.pool, id) : undefined;
    if (!row || (appScope !== undefined && row.app_scope !== appScope)) throw new BulkActionNotFoundError(id);
    return row;
  }

  #launch(id: string): void {
    if (this.#running.has(id) || this.#stopping.signal.aborted) return;
    const run = this.#run(id)
      .catch((error) => this.#deps.log.error({ bulkActionId: id, reason: (error as Error).message }, `bulk action ${id} stopped: ${(error as Error).message}`))
      .finally(() => this.#running.delete(id));
    this.#running.set(id, run);
  }

  async #run(id: string): Promise<void> {
    const { pool, log } = this.#deps;
    const owner = this.#owner;
    while (!this.#stopping.signal.aborted) {
      const run = await repo.takeLease(pool, id, owner);
      if (!run) return;
      const statuses = statusesFor(run.action, run.filter.status);
      const chunk = await repo.nextChunk(pool, run, statuses, CHUNK);
      if (chunk.length === 0) {
        await repo.markCompleted(pool, id, owner);
        const done = await repo.findBulkAction(pool, id);
        log.info({ bulkActionId: id, changed: done?.changed, skipped: done?.skipped }, `bulk ${run.action} ${id} completed: ${done?.changed} changed, ${done?.skipped} skipped`);
        return;
      }
      for (const jobId of chunk) {
        if (this.#stopping.signal.aborted) return;
        try {
          await this.#applyOne(run, jobId);
        } catch (error) {
          if (error instanceof LeaseLost) return;
          await repo.recordInterruption(pool, id, owner, (error as Error).message).catch(() => {});
          throw error;
        }
      }
    }
  }

  /** Changes one job and moves the cursor past it in the same transaction; a job no longer in an allowed state is skipped. */
  async #applyOne(run: repo.BulkActionRow, jobId: string): Promise<void> {
    const { pool, jobAdmin, metrics } = this.#deps;
    const lease = { id: run.id, owner: this.#owner };
    const also = async (client: Parameters<typeof repo.advancePast>[0]) => {
      if (!await repo.advancePast(client, lease, jobId, 'changed')) throw new LeaseLost();
    };
    const appScope = run.app_scope ?? undefined;
    try {
      if (run.action === 'retry') await jobAdmin.retry(jobId, appScope, also);
      else if (run.action === 'cancel') await jobAdmin.cancel(jobId, appScope, also);
      else await jobAdmin.deadLetter(jobId, appScope, also);
      metrics?.bulkActionReached(run.action, 'changed');
    } catch (error) {
      if (!(error instanceof InvalidStateError || error instanceof JobNotFoundError)) throw error;
      if (!await repo.advancePast(pool, lease, jobId, 'skipped')) throw new LeaseLost();
      metrics?.bulkActionReached(run.action, 'skipped');
    }
  }
}

/** The states a run takes candidates in: the action's, narrowed to the filter's status if it names one. */
function statusesFor(action: repo.BulkActionName, status: string | undefined): JobStatus[] {
  const allowed = ALLOWED[action];
  if (status === undefined) return allowed;
  if (!allowed.includes(status as JobStatus)) {
    throw ValidationError.field('filter.status', `${action} takes jobs that are ${allowed.join(', ')}; no ${status} job can be reached`);
  }
  return [status as JobStatus];
}

/** An app key's run reaches its own app's jobs only (the HTTP layer has refused a filter naming another app). */
function scoped(filter: z.infer<typeof BulkFilter>, appScope: string | undefined): z.infer<typeof BulkFilter> {
  return appScope === undefined ? filter : { ...filter, appId: appScope };
}

function toView(row: repo.BulkActionRow): BulkActionView {
  return {
    id: row.id,
    action: row.action,
    filter: Object.fromEntries(Object.entries(row.filter).filter(([, value]) => typeof value === 'string')) as Record<string, string>,
    status: row.status,
    total: row.total,
    changed: row.changed,
    skipped: row.skipped,
    lastError: row.last_error,
    requestedBy: row.requested_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    finishedAt: row.finished_at === null ? null : row.finished_at.toISOString(),
  };
}
