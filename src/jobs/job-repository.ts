// The `jobs` table's SQL, kept together: one function per statement, each taking the client to run
// on so the caller decides what shares a transaction. Batch statements take arrays (unnest or a JSON
// recordset) so a batch of any size costs one round trip.
import { named } from '../db/prepared.ts';
import type { SqlClient } from '../db/sql-client.ts';

export type JobStatus = 'pending' | 'running' | 'retrying' | 'completed' | 'failed' | 'dead_lettered' | 'cancelled' | 'scheduled';

export interface JobRow {
  id: string;
  app_id: string;
  mode: string;
  execution_type: string;
  lambda_proxy_message: any;
  execution_config: any;
  metadata: Record<string, unknown>;
  message_group_id: string | null;
  idempotency_key: string | null;
  schedule_arn: string | null;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  retry_policy: { baseDelaySeconds: number; maxDelaySeconds: number };
  run_at: Date | null;
  next_retry_at: Date | null;
  last_error: string | null;
  last_response: unknown;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  type: string | null;
  payload: unknown;
  /** W3C trace context (migration 0013); null on rows made before it. */
  traceparent: string | null;
  tracestate: string | null;
}

export interface NewJob {
  id: string;
  appId: string;
  mode: string;
  executionType: string;
  lambdaProxyMessage: unknown;
  executionConfig: unknown;
  metadata: Record<string, unknown>;
  messageGroupId: string | null;
  idempotencyKey: string | null;
  status: JobStatus;
  maxAttempts: number;
  retryPolicy: { baseDelaySeconds: number; maxDelaySeconds: number };
  runAt: Date | null;
  type: string | null;
  payload: unknown;
  traceparent: string;
  tracestate: string | null;
}

/**
 * The insert of a job unless the app already has one with this idempotency key, returning its id
 * only when inserted. DO NOTHING rather than an error keeps the caller's transaction usable; a
 * concurrent insert of the same key waits on the unique index and then finds the first job committed.
 * A statement, not a call, so DbLane.sendWith can run it and the lane's insert as one.
 */
export function insertJobStatement(job: NewJob): { text: string; values: unknown[] } {
  return {
    text: `INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, metadata,
                       message_group_id, idempotency_key, status, max_attempts, retry_policy, run_at, type, payload,
                       traceparent, tracestate)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
     ON CONFLICT (app_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING id`,
    values: [
      job.id, job.appId, job.mode, job.executionType, job.lambdaProxyMessage, job.executionConfig, job.metadata,
      job.messageGroupId, job.idempotencyKey, job.status, job.maxAttempts, job.retryPolicy, job.runAt, job.type,
      job.payload === null ? null : JSON.stringify(job.payload), job.traceparent, job.tracestate,
    ],
  };
}

/** Runs insertJobStatement: true when inserted, false when the idempotency key named an earlier job. */
export async function insertJob(db: SqlClient, job: NewJob): Promise<boolean> {
  const { text, values } = insertJobStatement(job);
  const { rows } = await db.query(text, values);
  return rows.length === 1;
}

/** Where a schedule job's remote schedule lives (EventBridge), recorded in the create transaction. */
export async function setScheduleArn(db: SqlClient, id: string, scheduleArn: string): Promise<void> {
  await db.query('UPDATE jobs SET schedule_arn = $2, updated_at = now() WHERE id = $1', [id, scheduleArn]);
}

export async function findJobByIdempotencyKey(db: SqlClient, appId: string, idempotencyKey: string): Promise<JobRow | undefined> {
  const { rows } = await db.query('SELECT * FROM jobs WHERE app_id = $1 AND idempotency_key = $2', [appId, idempotencyKey]);
  return rows[0];
}

export async function findJob(db: SqlClient, id: string): Promise<JobRow | undefined> {
  const { rows } = await db.query('SELECT * FROM jobs WHERE id = $1', [id]);
  return rows[0];
}

/** What running an attempt needs of its row, and no more: every column returned is parsed per job. */
export type RunnableRow = Pick<JobRow, 'id' | 'app_id' | 'execution_type' | 'lambda_proxy_message' | 'execution_config' | 'idempotency_key' | 'max_attempts' | 'started_at' | 'traceparent' | 'tracestate'> & {
  /** When this attempt was due (see DUE_AT), for the queue-wait metric. */
  due_at: Date;
};

/**
 * When a waiting job is due to start, as SQL over a jobs row `j`: a retry's time, else its runAt, else
 * when it last became pending (its creation, or a retry by hand). The queue-wait metric measures from
 * it and the queue gauges (src/admin/job-stats-repository.ts) count by it.
 */
export const DUE_AT = (j: string) => `COALESCE(${j}.next_retry_at, GREATEST(${j}.run_at, ${j}.updated_at))`;

/**
 * Marks claimed attempts as running and returns what running them needs (the message to execute).
 * A row that is no longer runnable (cancelled meanwhile, or finished) is not returned, and the caller
 * lets its lane job go without running it. `running` is accepted: that is an attempt whose worker was
 * lost, now claimed again. `prior` is the row as the statement found it, before SET cleared next_retry_at.
 */
export async function markRunning(db: SqlClient, attempts: { id: string; attempt: number }[]): Promise<RunnableRow[]> {
  const { rows } = await db.query(named(
    `UPDATE jobs AS j
        SET status = 'running', attempts = LEAST(a.attempt, j.max_attempts), started_at = now(), updated_at = now(), next_retry_at = NULL
        FROM unnest($1::uuid[], $2::int[]) AS a(id, attempt), jobs AS prior
      WHERE j.id = a.id AND prior.id = a.id AND j.status IN ('pending', 'retrying', 'running', 'scheduled')
      RETURNING j.id, j.app_id, j.execution_type, j.lambda_proxy_message, j.execution_config, j.idempotency_key, j.max_attempts,
                j.started_at, j.traceparent, j.tracestate, ${DUE_AT('prior')} AS due_at`,
    [attempts.map((a) => a.id), attempts.map((a) => a.attempt)],
  ));
  return rows;
}

export interface AttemptResult {
  id: string;
  /** The attempt this outcome is of (1 for the first); an attempt past max_attempts is the lane's spare. */
  attempt: number;
  lane: 'db' | 'sqs' | 'scheduler';
  status: 'completed' | 'retrying' | 'failed' | 'dead_lettered';
  lastError: string | null;
  lastResponse: { status?: number; durationMs?: number } | null;
  nextRetryAt: Date | null;
  /** When the attempt began, if the row's started_at does not say (a mode=sqs job's row is made after it ran). */
  startedAt?: Date;
}

/**
 * Records how a batch of attempts ended, in one statement: the jobs rows and their attempt history
 * (job_attempts, migration 0008). Only running rows change. The DB lane's first attempt that
 * completes writes no history row: the jobs row says all of it, and it is most attempts.
 * `j.id = ANY($2)` is there for the planner: joined only to the recordset (which it guesses at 100
 * rows), it reached the rows through the status index instead, where every earlier `running` row
 * leaves a dead entry until vacuum: 345 heap pages read for 50 rows in the benchmark, 2.4 ms a batch.
 */
export async function recordAttemptResults(db: SqlClient, results: AttemptResult[]): Promise<number> {
  if (results.length === 0) return 0;
  const { rows } = await db.query(named(
    `WITH settled AS (
       UPDATE jobs AS j
          SET status = r.status,
              last_error = r.last_error,
              last_response = COALESCE(r.last_response, j.last_response),
              next_retry_at = r.next_retry_at,
              completed_at = CASE WHEN r.status IN ('completed', 'failed', 'dead_lettered') THEN now() END,
              updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, attempt int, lane text, status text, last_error text,
                                                last_response jsonb, next_retry_at timestamptz, started_at timestamptz)
        WHERE j.id = ANY($2::uuid[]) AND j.id = r.id AND j.status = 'running'
        RETURNING j.id, LEAST(r.attempt, j.max_attempts) AS attempt, r.lane, COALESCE(r.started_at, j.started_at) AS started_at,
                  r.status, r.last_error, r.last_response
     ), history AS (
       INSERT INTO job_attempts (job_id, attempt, lane, started_at, outcome, http_status, duration_ms, error)
       SELECT id, attempt, lane, started_at, status, (last_response->>'status')::int,
              COALESCE((last_response->>'durationMs')::numeric, extract(epoch FROM now() - started_at) * 1000)::int, last_error
         FROM settled
        WHERE NOT (lane = 'db' AND attempt = 1 AND status = 'completed')
     )
     SELECT id FROM settled`,
    [JSON.stringify(results.map((r) => ({
      id: r.id, attempt: r.attempt, lane: r.lane, status: r.status, last_error: r.lastError, last_response: r.lastResponse ?? null,
      next_retry_at: r.nextRetryAt, started_at: r.startedAt ?? null,
    }))), results.map((r) => r.id)],
  ));
  return rows.length;
}

/**
 * DB-lane attempts that have been running longer than their timeout plus `graceSeconds`: their
 * worker is gone (a live worker would have settled them, or pg-boss's expiry would have taken them
 * back). Served by the (status, next_retry_at) index.
 */
export async function findLostAttempts(db: SqlClient, defaultTimeoutMs: number, graceSeconds: number): Promise<{ id: string; message_group_id: string | null; attempts: number }[]> {
  const { rows } = await db.query(
    `SELECT id, message_group_id, attempts FROM jobs
      WHERE status = 'running' AND mode = 'db'
        AND started_at < now() - make_interval(secs => COALESCE((execution_config->>'timeoutMs')::int, (execution_config->'targetExecution'->>'timeoutMs')::int, $1) / 1000.0 + $2)
      LIMIT 500`,
    [defaultTimeoutMs, graceSeconds],
  );
  return rows;
}

/** Shows lost attempts as retrying now, with the reason, until a worker claims them again. */
export async function markLostAttempts(db: SqlClient, ids: string[]): Promise<void> {
  await db.query(
    `UPDATE jobs SET status = 'retrying', next_retry_at = now(), updated_at = now(),
            last_error = 'the worker running attempt ' || attempts || ' stopped before recording an outcome'
      WHERE id = ANY($1::uuid[]) AND status = 'running'`,
    [ids],
  );
}

/** True when the database answers; used by /healthz. */
export async function ping(db: SqlClient): Promise<void> {
  await db.query('SELECT 1');
}
