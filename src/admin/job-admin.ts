// Finding jobs and acting on them by hand: read one, list with keyset pagination, retry, dead-letter,
// cancel. Each action changes the jobs row and the DB lane in one transaction, with the row locked,
// so the two never disagree and no worker claims the job halfway through.
import { z } from 'zod';
import type { Config } from '../config/config.ts';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import * as admin from './job-admin-repository.ts';
import { StorableText } from '../model/message-schema.ts';
import { InvalidStateError, JobNotFoundError, ValidationError } from '../model/errors.ts';
import * as repo from '../jobs/job-repository.ts';
import { laneSettings } from '../jobs/job-preparation.ts';
import type { JobScheduler } from '../jobs/ports.ts';
import type { Logger } from '../ops/log.ts';
import { listAttempts } from '../jobs/attempt-repository.ts';
import { JobStatusSchema, toAttemptView, toJobView, type AttemptList, type JobPage, type JobView } from './job-view.ts';
import { parseOrThrow } from '../jobs/validation.ts';

const MAX_PAGE_SIZE = 500;

export const ListJobsQuery = z.strictObject({
  // Compared with stored values in SQL, so held to what PostgreSQL can take as text.
  appId: StorableText.min(1).max(128).optional(),
  status: JobStatusSchema.optional(),
  executionType: StorableText.min(1).max(64).optional(),
  messageGroupId: StorableText.min(1).max(128).optional(),
  createdAfter: z.iso.datetime({ offset: true }).optional(),
  createdBefore: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number<string>().pipe(z.int().min(1).max(MAX_PAGE_SIZE)).optional(),
  cursor: z.string().max(200).optional(),
});

// Which states each action accepts. A running job is refused: its worker holds it, and the
// outcome it records would overwrite the action. Bulk actions pick their candidates by these too.
export const RETRYABLE: repo.JobStatus[] = ['failed', 'dead_lettered'];
export const CANCELLABLE: repo.JobStatus[] = ['pending', 'retrying', 'scheduled'];
export const DEAD_LETTERABLE: repo.JobStatus[] = ['pending', 'retrying', 'scheduled', 'failed'];

/**
 * Runs in an action's transaction once the job has changed; throwing rolls the change back. A bulk
 * action records its progress here, so the change and the record of it commit together.
 */
export type AlsoInTransaction = (client: PoolClient) => Promise<void>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface JobAdminDeps {
  config: Config;
  pool: Pool;
  dbLane: DbLane;
  /** Removes the EventBridge schedule of a job ended by hand. */
  scheduler?: JobScheduler;
  log: Logger;
}

export class JobAdmin {
  readonly #config: Config;
  readonly #pool: Pool;
  readonly #dbLane: DbLane;
  readonly #scheduler: JobScheduler | undefined;
  readonly #log: Logger;

  constructor(deps: JobAdminDeps) {
    this.#config = deps.config;
    this.#pool = deps.pool;
    this.#dbLane = deps.dbLane;
    this.#scheduler = deps.scheduler;
    this.#log = deps.log;
  }

  /** `appId` limits the lookup to one app's jobs: another app's job is not found. */
  async get(id: string, appId?: string): Promise<JobView> {
    const row = UUID.test(id) ? await repo.findJob(this.#pool, id) : undefined;
    if (!row || (appId !== undefined && row.app_id !== appId)) throw new JobNotFoundError(id);
    return toJobView(row);
  }

  /** Every attempt of the job, oldest first. */
  async attempts(id: string, appId?: string): Promise<AttemptList> {
    await this.get(id, appId);
    return { jobId: id, attempts: (await listAttempts(this.#pool, id)).map(toAttemptView) };
  }

  async list(query: unknown): Promise<JobPage> {
    const { limit = 50, cursor, ...filter } = parseOrThrow(ListJobsQuery, query);
    const rows = await admin.listJobs(this.#pool, filter, limit + 1, cursor === undefined ? undefined : decodeCursor(cursor));
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      jobs: page.map(toJobView),
      nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.key, id: last.id }) : null,
    };
  }

  /**
   * Runs a failed or dead-lettered job again, now, with a fresh set of attempts (attempts restarts
   * at 0 and max_attempts more are allowed). It joins the back of its message group.
   */
  async retry(id: string, appId?: string, also?: AlsoInTransaction): Promise<JobView> {
    return this.#act(id, 'retry', RETRYABLE, async (client, row) => {
      const retried = await admin.markRetried(client, id);
      await this.#dbLane.requeue(client, {
        id,
        groupId: row.message_group_id ?? undefined,
        startAfter: undefined,
        ...laneSettings(this.#config, row.execution_config, { maxAttempts: row.max_attempts, ...row.retry_policy }),
      });
      return retried;
    }, appId, also);
  }

  /**
   * Gives up on a job that has not succeeded: it will not run again unless retried by hand. Its
   * lane entry goes in the same transaction, and an EventBridge schedule still armed for it after.
   */
  async deadLetter(id: string, appId?: string, also?: AlsoInTransaction): Promise<JobView> {
    return this.#act(id, 'dead-letter', DEAD_LETTERABLE, async (client, row) => {
      await this.#dbLane.discard(client, { id, groupId: row.message_group_id });
      return admin.markEndedByHand(client, id, 'dead_lettered', 'dead-lettered by hand before it failed');
    }, appId, also);
  }

  /** Stops a job that has not started (or is waiting for its next attempt); its group moves on. */
  async cancel(id: string, appId?: string, also?: AlsoInTransaction): Promise<JobView> {
    return this.#act(id, 'cancel', CANCELLABLE, async (client, row) => {
      await this.#dbLane.discard(client, { id, groupId: row.message_group_id });
      return admin.markEndedByHand(client, id, 'cancelled', null);
    }, appId, also);
  }

  async #act(
    id: string,
    action: string,
    allowed: repo.JobStatus[],
    change: (client: PoolClient, row: repo.JobRow) => Promise<repo.JobRow>,
    appId: string | undefined,
    also: AlsoInTransaction | undefined,
  ): Promise<JobView> {
    if (!UUID.test(id)) throw new JobNotFoundError(id);
    const { before, after } = await inTransaction(this.#pool, async (client) => {
      const current = await admin.lockJob(client, id);
      if (!current || (appId !== undefined && current.app_id !== appId)) throw new JobNotFoundError(id);
      if (!allowed.includes(current.status)) throw new InvalidStateError(id, current.status, action);
      const after = await change(client, current);
      await also?.(client);
      return { before: current, after };
    });
    // A schedule EventBridge still holds would only deliver a no-op (the row is no longer the
    // scheduler's to claim); removing it after the commit keeps it from firing at all.
    if (before.status === 'scheduled' && before.lane === 'scheduler' && this.#scheduler) {
      await this.#scheduler.remove(id).catch((error) => this.#log.warn({ jobId: id, reason: (error as Error).message }, `schedule of job ${id} not deleted: ${(error as Error).message}`));
    }
    return toJobView(after);
  }
}

function encodeCursor(key: admin.JobKey): string {
  return Buffer.from(JSON.stringify([key.createdAt, key.id])).toString('base64url');
}

function decodeCursor(cursor: string): admin.JobKey {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof createdAt === 'string' && !Number.isNaN(Date.parse(createdAt)) && typeof id === 'string' && UUID.test(id)) {
      return { createdAt, id };
    }
  } catch {}
  throw ValidationError.field('cursor', 'is not a cursor this API returned; pass nextCursor from the previous page');
}
