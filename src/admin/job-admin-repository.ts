// SQL for finding and acting on jobs by hand, and for creating many at once. Like job-repository.ts:
// one function per statement, each taking the client to run on.
import type { SqlClient } from '../db/sql-client.ts';
import type { JobRow, JobStatus, NewJob } from '../jobs/job-repository.ts';

export interface JobFilter {
  appId?: string;
  status?: JobStatus;
  executionType?: string;
  messageGroupId?: string;
  createdAfter?: string;
  createdBefore?: string;
}

/** A position in the newest-first order: the created_at (to the microsecond) and id of the last row seen. */
export interface JobKey {
  createdAt: string;
  id: string;
}

/**
 * One page, newest first, ordered by (created_at, id). The next page starts strictly after the last
 * key seen, so jobs created while a caller pages are not seen (they sort before the first page) and
 * none already there is seen twice or skipped. `key` is created_at as text to the microsecond, which
 * a JavaScript Date would round.
 */
export async function listJobs(db: SqlClient, filter: JobFilter, limit: number, after: JobKey | undefined): Promise<(JobRow & { key: string })[]> {
  const values: unknown[] = [];
  const conditions = filterConditions(filter, values);
  if (after !== undefined) {
    values.push(after.createdAt, after.id);
    conditions.push(`(created_at, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
  }
  values.push(limit);
  const { rows } = await db.query(
    `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS key
       FROM jobs
      ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id DESC
      LIMIT $${values.length}`,
    values,
  );
  return rows;
}

/**
 * The WHERE conditions a filter stands for, over the jobs table's own columns, with their values
 * appended to `values` (so a caller can add placeholders of its own before or after).
 */
export function filterConditions(filter: JobFilter, values: unknown[]): string[] {
  const conditions: string[] = [];
  const add = (sql: (placeholder: string) => string, value: unknown) => {
    values.push(value);
    conditions.push(sql(`$${values.length}`));
  };
  if (filter.appId !== undefined) add((p) => `app_id = ${p}`, filter.appId);
  if (filter.status !== undefined) add((p) => `status = ${p}`, filter.status);
  if (filter.executionType !== undefined) add((p) => `execution_type = ${p}`, filter.executionType);
  if (filter.messageGroupId !== undefined) add((p) => `message_group_id = ${p}`, filter.messageGroupId);
  if (filter.createdAfter !== undefined) add((p) => `created_at > ${p}::timestamptz`, filter.createdAfter);
  if (filter.createdBefore !== undefined) add((p) => `created_at < ${p}::timestamptz`, filter.createdBefore);
  return conditions;
}

/** Reads a job and locks its row until the caller's transaction ends, so no worker moves it meanwhile. */
export async function lockJob(db: SqlClient, id: string): Promise<JobRow | undefined> {
  const { rows } = await db.query('SELECT * FROM jobs WHERE id = $1 FOR UPDATE', [id]);
  return rows[0];
}

/**
 * A failed or dead-lettered job made runnable again, with a fresh set of attempts, in the DB lane
 * whichever lane ran it before.
 */
export async function markRetried(db: SqlClient, id: string): Promise<JobRow> {
  const { rows } = await db.query(
    `UPDATE jobs SET status = 'pending', attempts = 0, abandoned_attempts = 0, lane = 'db', next_retry_at = NULL,
                     started_at = NULL, completed_at = NULL, run_at = NULL, updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id],
  );
  return rows[0];
}

/**
 * Ends a job by hand. The last error stays: it is why the job was given up on. A job without one
 * gets `reasonIfNoError`, so that one dead-lettered before it ever failed shows in job_failures with
 * a cause.
 */
export async function markEndedByHand(db: SqlClient, id: string, status: 'cancelled' | 'dead_lettered', reasonIfNoError: string | null): Promise<JobRow> {
  const { rows } = await db.query(
    `UPDATE jobs SET status = $2, next_retry_at = NULL, completed_at = now(), updated_at = now(),
                     last_error = COALESCE(last_error, $3)
      WHERE id = $1 RETURNING *`,
    [id, status, reasonIfNoError],
  );
  return rows[0];
}

/**
 * Inserts many jobs in one statement, skipping any whose idempotency key the app already used.
 * Returns the ids inserted. The caller has already removed duplicate keys within the batch.
 */
export async function insertJobs(db: SqlClient, jobs: NewJob[]): Promise<Set<string>> {
  const { rows } = await db.query(
    `INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, metadata,
                       message_group_id, idempotency_key, status, max_attempts, retry_policy, run_at, type, payload,
                       traceparent, tracestate)
     SELECT id, app_id, mode, execution_type, lambda_proxy_message, execution_config, metadata,
            message_group_id, idempotency_key, status, max_attempts, retry_policy, run_at, type, payload,
            traceparent, tracestate
       FROM jsonb_to_recordset($1::jsonb) AS j(id uuid, app_id text, mode text, execution_type text, lambda_proxy_message jsonb,
            execution_config jsonb, metadata jsonb, message_group_id text, idempotency_key text, status text,
            max_attempts int, retry_policy jsonb, run_at timestamptz, type text, payload jsonb, traceparent text, tracestate text)
     ON CONFLICT (app_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING id`,
    [JSON.stringify(jobs.map((job) => ({
      id: job.id, app_id: job.appId, mode: job.mode, execution_type: job.executionType,
      lambda_proxy_message: job.lambdaProxyMessage, execution_config: job.executionConfig, metadata: job.metadata,
      message_group_id: job.messageGroupId, idempotency_key: job.idempotencyKey, status: job.status,
      max_attempts: job.maxAttempts, retry_policy: job.retryPolicy, run_at: job.runAt, type: job.type, payload: job.payload,
      traceparent: job.traceparent, tracestate: job.tracestate,
    })))],
  );
  return new Set(rows.map((row: { id: string }) => row.id));
}

/** The jobs already holding these (app, idempotency key) pairs. */
export async function findJobsByIdempotencyKeys(db: SqlClient, keys: { appId: string; idempotencyKey: string }[]): Promise<JobRow[]> {
  if (keys.length === 0) return [];
  const { rows } = await db.query(
    `SELECT j.* FROM jobs j JOIN unnest($1::text[], $2::text[]) AS k(app_id, idempotency_key)
         ON j.app_id = k.app_id AND j.idempotency_key = k.idempotency_key`,
    [keys.map((key) => key.appId), keys.map((key) => key.idempotencyKey)],
  );
  return rows;
}
