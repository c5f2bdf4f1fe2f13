// What an operator looks at first, in SQL: the work waiting per lane and app (the queue gauges of
// /metrics and the dashboard's overview), the oldest job due in each lane, the last hour minute by
// minute, and the latest failures. Each statement stays fast with millions of finished jobs in the
// table: the waiting ones are reached through jobs_status_next_retry_at_idx, the last hour through
// the partial indexes of migration 0012 (see docs/operations.md for the measurements).
import type { SqlClient } from '../db/sql-client.ts';
import { DUE_AT } from '../jobs/job-repository.ts';
import type { QueueStats } from '../ops/metrics.ts';

const WAITING = `('pending', 'retrying', 'scheduled', 'running')`;

/**
 * The lane a waiting job is in, from its row: a schedule waits for the scheduler; a mode=both job not
 * yet run waits in SQS (through the outbox); every retry waits in the DB lane, the SQS lane's too,
 * since a failed SQS attempt is handed over to it. (mode=sqs jobs have no row until they need one.)
 */
const LANE = `CASE WHEN j.status = 'scheduled' THEN 'scheduler' WHEN j.status IN ('pending', 'running') AND j.mode = 'both' THEN 'sqs' ELSE 'db' END`;

/** One row per lane and app with anything waiting or running. */
export async function readQueueStats(db: SqlClient): Promise<QueueStats[]> {
  const { rows } = await db.query(
    `SELECT lane, app_id,
            count(*) FILTER (WHERE status <> 'running' AND due_at <= now())::int AS ready,
            count(*) FILTER (WHERE status <> 'running' AND due_at > now())::int AS delayed,
            count(*) FILTER (WHERE status = 'running')::int AS running,
            COALESCE(extract(epoch FROM now() - min(due_at) FILTER (WHERE status <> 'running' AND due_at <= now())), 0)::float8 AS oldest
       FROM (SELECT ${LANE} AS lane, j.app_id, j.status, ${DUE_AT('j')} AS due_at FROM jobs j WHERE j.status IN ${WAITING}) AS waiting
      GROUP BY lane, app_id
      ORDER BY lane, app_id`,
  );
  return rows.map((row) => ({ lane: row.lane, appId: row.app_id, ready: row.ready, delayed: row.delayed, running: row.running, oldestReadySeconds: row.oldest }));
}

export interface OldestWaiting {
  lane: string;
  id: string;
  app_id: string;
  status: string;
  execution_type: string;
  due_at: Date;
  attempts: number;
  last_error: string | null;
}

/** The job due longest ago and not yet started, per lane: the one an on-call engineer opens first. */
export async function readOldestWaiting(db: SqlClient): Promise<OldestWaiting[]> {
  const { rows } = await db.query(
    `SELECT DISTINCT ON (lane) lane, id, app_id, status, execution_type, due_at, attempts, last_error
       FROM (SELECT ${LANE} AS lane, j.id, j.app_id, j.status, j.execution_type, j.attempts, j.last_error, ${DUE_AT('j')} AS due_at
               FROM jobs j WHERE j.status IN ('pending', 'retrying', 'scheduled')) AS waiting
      WHERE due_at <= now()
      ORDER BY lane, due_at`,
  );
  return rows;
}

export interface MinuteCounts {
  minute: Date;
  created: number;
  completed: number;
  /** Attempts that failed and left their job to retry. */
  retried: number;
  /** Jobs that ended failed or dead-lettered. */
  failed: number;
}

/**
 * The last `minutes` minutes, one row per minute, oldest first, zeros included. Created from
 * jobs_created_idx; completions and failures from the partial index on completed_at; retries from
 * job_attempts' index on finished_at (migration 0012).
 */
export async function readLastMinutes(db: SqlClient, minutes: number): Promise<MinuteCounts[]> {
  const { rows } = await db.query(
    `WITH bounds AS (SELECT date_trunc('minute', now()) - make_interval(mins => $1 - 1) AS since),
     created AS (
       SELECT date_trunc('minute', created_at) AS minute, count(*)::int AS n FROM jobs, bounds WHERE created_at >= since GROUP BY 1
     ), ended AS (
       SELECT date_trunc('minute', completed_at) AS minute,
              count(*) FILTER (WHERE status = 'completed')::int AS completed,
              count(*) FILTER (WHERE status IN ('failed', 'dead_lettered'))::int AS failed
         FROM jobs, bounds WHERE completed_at >= since GROUP BY 1
     ), retried AS (
       SELECT date_trunc('minute', finished_at) AS minute, count(*)::int AS n
         FROM job_attempts, bounds WHERE finished_at >= since AND outcome = 'retrying' GROUP BY 1
     )
     SELECT m.minute, COALESCE(c.n, 0) AS created, COALESCE(e.completed, 0) AS completed, COALESCE(r.n, 0) AS retried, COALESCE(e.failed, 0) AS failed
       FROM bounds, generate_series(bounds.since, date_trunc('minute', now()), interval '1 minute') AS m(minute)
       LEFT JOIN created c ON c.minute = m.minute
       LEFT JOIN ended e ON e.minute = m.minute
       LEFT JOIN retried r ON r.minute = m.minute
      ORDER BY m.minute`,
    [minutes],
  );
  return rows;
}

export interface RecentFailure {
  id: string;
  app_id: string;
  status: 'failed' | 'dead_lettered';
  execution_type: string;
  attempts: number;
  last_error: string | null;
  completed_at: Date;
}

/** The latest jobs that ended failed or dead-lettered, newest first, with why. */
export async function readRecentFailures(db: SqlClient, limit: number): Promise<RecentFailure[]> {
  const { rows } = await db.query(
    `SELECT id, app_id, status, execution_type, attempts, last_error, completed_at
       FROM jobs
      WHERE completed_at IS NOT NULL AND status IN ('failed', 'dead_lettered')
      ORDER BY completed_at DESC
      LIMIT $1`,
    [limit],
  );
  return rows;
}
