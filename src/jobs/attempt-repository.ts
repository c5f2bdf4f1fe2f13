// The attempt history's SQL (migration 0008). Attempts are written by the statement that records
// their outcome (job-repository.ts recordAttemptResults); this file reads them back.
import type { SqlClient } from '../db/sql-client.ts';

export interface AttemptRow {
  attempt: number;
  lane: 'db' | 'sqs' | 'scheduler';
  started_at: Date | null;
  finished_at: Date;
  outcome: 'completed' | 'retrying' | 'failed' | 'dead_lettered' | 'lost' | 'abandoned';
  http_status: number | null;
  duration_ms: number | null;
  error: string | null;
}

/**
 * A job's attempts, oldest first. A DB-lane first attempt that completed is not stored as a row
 * (see the migration); it is drawn here from the jobs row, so the history is whole either way. "No
 * row of this run" is no row finished since the row's started_at: after a retry by hand the job's
 * earlier attempts are there, and its new first attempt still comes from the row.
 */
export async function listAttempts(db: SqlClient, jobId: string): Promise<AttemptRow[]> {
  const { rows } = await db.query(
    `SELECT attempt, lane, started_at, finished_at, outcome, http_status, duration_ms, error
       FROM (SELECT id, attempt, lane, started_at, finished_at, outcome, http_status, duration_ms, error
               FROM job_attempts WHERE job_id = $1
             UNION ALL
             -- The run's completed first attempt is its newest: it sorts after every stored row.
             SELECT 9223372036854775807, 1, 'db', j.started_at, j.completed_at, 'completed',
                    (j.last_response->>'status')::int, (j.last_response->>'durationMs')::numeric::int, NULL
               FROM jobs j
              WHERE j.id = $1 AND j.status = 'completed' AND j.attempts = 1
                AND NOT EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = j.id AND a.finished_at >= j.started_at)) AS history
      ORDER BY id`,
    [jobId],
  );
  return rows;
}
