// What an operator looks at first, in SQL: the work waiting per lane and app (the queue gauges of
// /metrics and the dashboard's overview), the oldest job due in each lane, the last hour minute by
// minute, and the latest failures. Each statement stays fast with millions of finished jobs in the
// table: the waiting ones are reached through jobs_unfinished_status_idx, the last hour is read
// from the per-minute counts of migration 0017 (see docs/operations.md for the measurements).
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
 * The last `minutes` minutes, one row per minute, oldest first, zeros included, from job_activity
 * (migration 0017), which the writing statements' triggers keep: at most one row per minute and
 * writing session, however many jobs ran. Counting the jobs rows instead visited every row version
 * of the last hour's jobs: 175 ms for 11,000 jobs on a table of 10,000,000 (bench/scale.ts).
 */
export async function readLastMinutes(db: SqlClient, minutes: number): Promise<MinuteCounts[]> {
  const { rows } = await db.query(
    `SELECT m.minute, COALESCE(sum(a.created), 0)::int AS created, COALESCE(sum(a.completed), 0)::int AS completed,
            COALESCE(sum(a.retried), 0)::int AS retried, COALESCE(sum(a.failed), 0)::int AS failed
       FROM generate_series(date_trunc('minute', now()) - make_interval(mins => $1 - 1), date_trunc('minute', now()), interval '1 minute') AS m(minute)
       LEFT JOIN job_activity a ON a.minute = m.minute
      GROUP BY m.minute
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

/**
 * The latest jobs that ended failed or dead-lettered, newest first, with why. Each status is read
 * from the newest end of jobs_finished_idx (status, updated_at; migration 0014), where a finished
 * row's updated_at is when it finished, as its completed_at is; the two short lists are merged.
 * Walking completed_at back instead stepped over every job completed since the last failure: 11,000
 * rows, 13 ms, after a burst of work on a table of 10,000,000 finished jobs (bench/scale.ts).
 */
export async function readRecentFailures(db: SqlClient, limit: number): Promise<RecentFailure[]> {
  const latest = (status: string) =>
    `(SELECT id, app_id, status, execution_type, attempts, last_error, completed_at
        FROM jobs WHERE status = '${status}' ORDER BY updated_at DESC LIMIT $1)`;
  const { rows } = await db.query(
    `SELECT * FROM (${latest('failed')} UNION ALL ${latest('dead_lettered')}) AS failures
      ORDER BY completed_at DESC
      LIMIT $1`,
    [limit],
  );
  return rows;
}
