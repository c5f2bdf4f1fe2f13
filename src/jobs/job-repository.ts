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
  /** The attempt last claimed: 1 for the first, 0 before any. */
  attempts: number;
  max_attempts: number;
  /** Attempts the service gave up on itself (a stop); they do not count against max_attempts. */
  abandoned_attempts: number;
  /** The lane that owns the job's next delivery (migration 0009). */
  lane: 'db' | 'sqs' | 'scheduler';
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
  /** The lane that delivers it first; the DB lane unless given. */
  lane?: 'db' | 'sqs' | 'scheduler';
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
                       message_group_id, idempotency_key, status, max_attempts, retry_policy, run_at, type, payload, lane,
                       traceparent, tracestate)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
     ON CONFLICT (app_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING id`,
    values: [
      job.id, job.appId, job.mode, job.executionType, job.lambdaProxyMessage, job.executionConfig, job.metadata,
      job.messageGroupId, job.idempotencyKey, job.status, job.maxAttempts, job.retryPolicy, job.runAt, job.type,
      job.payload === null ? null : JSON.stringify(job.payload), job.lane ?? 'db', job.traceparent, job.tracestate,
    ],
  };
}

/** Runs insertJobStatement: true when inserted, false when the idempotency key named an earlier job. */
export async function insertJob(db: SqlClient, job: NewJob): Promise<boolean> {
  const { text, values } = insertJobStatement(job);
  const { rows } = await db.query(text, values);
  return rows.length === 1;
}

/**
 * Where a schedule job's remote schedule lives (EventBridge), recorded in the create transaction;
 * its first delivery is then the scheduler's to claim, not the DB lane's.
 */
export async function setScheduleArn(db: SqlClient, id: string, scheduleArn: string): Promise<void> {
  await db.query(`UPDATE jobs SET schedule_arn = $2, lane = 'scheduler', updated_at = now() WHERE id = $1`, [id, scheduleArn]);
}

export async function findJobByIdempotencyKey(db: SqlClient, appId: string, idempotencyKey: string): Promise<JobRow | undefined> {
  const { rows } = await db.query('SELECT * FROM jobs WHERE app_id = $1 AND idempotency_key = $2', [appId, idempotencyKey]);
  return rows[0];
}

export async function findJob(db: SqlClient, id: string): Promise<JobRow | undefined> {
  const { rows } = await db.query('SELECT * FROM jobs WHERE id = $1', [id]);
  return rows[0];
}

/**
 * When a waiting job is due to start, as SQL over a jobs row `j`: a retry's time, else its runAt, else
 * when it last became pending (its creation, or a retry by hand). The queue-wait metric measures from
 * it and the queue gauges (src/admin/job-stats-repository.ts) count by it.
 */
export const DUE_AT = (j: string) => `COALESCE(${j}.next_retry_at, GREATEST(${j}.run_at, ${j}.updated_at))`;

/** True when the database answers; used by /healthz. */
export async function ping(db: SqlClient): Promise<void> {
  await db.query('SELECT 1');
}
