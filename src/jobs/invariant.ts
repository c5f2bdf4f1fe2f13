// "Nothing stuck", as one SQL query: every row that is not finished has a live lane entry behind it
// (a pg-boss job that will run or is running, a pending outbox entry or a message the outbox handed
// to SQS, or an armed EventBridge schedule), and every lane job that will run, or hold its group,
// has a row that is not finished. The query lists what breaks that; the reconciler (reconciler.ts)
// runs it and repairs each finding. docs/sql.md prints the same text, and a test checks they agree.
import type { SqlClient } from '../db/sql-client.ts';
import type { JobRow } from './job-repository.ts';

export type Problem = 'orphaned_row' | 'stray_lane_job';

export interface Finding {
  problem: Problem;
  id: string;
  status: JobRow['status'] | null;
  lane: JobRow['lane'] | null;
  attempts: number | null;
}

/**
 * The queue names are pg-boss's queues of the DB lane and the SQS outbox (src/lanes/db-lane.ts,
 * src/sqs/sqs-outbox.ts; the outbox entry's id is its job's id). A message the outbox handed to SQS
 * stays live for SQS's longest retention (14 days): until then SQS, not Postgres, holds it. An
 * EventBridge schedule counts as armed until 15 minutes past its time; after that the reconciler
 * gives its job to the DB lane. A stray lane job is looked for among those that would hold a
 * group or wait (`retry`, or `created` not yet due); one that is due is let go by the lane's claim.
 */
const ORPHANED_ROWS_SQL = `SELECT 'orphaned_row' AS problem, j.id, j.status, j.lane, j.attempts
  FROM jobs j
 WHERE j.status IN ('pending', 'running', 'retrying', 'scheduled')
   AND NOT EXISTS (SELECT 1 FROM pgboss.job b
                    WHERE b.name IN ('switchyard-jobs', 'switchyard-jobs-ordered') AND b.id = j.id
                      AND b.state IN ('created', 'retry', 'active'))
   AND NOT (j.lane = 'sqs' AND EXISTS (SELECT 1 FROM pgboss.job o
                    WHERE o.name = 'switchyard-sqs-outbox' AND o.id = j.id
                      AND (o.state IN ('created', 'retry', 'active')
                           OR (o.state = 'completed' AND o.completed_on > now() - interval '14 days'))))
   AND NOT (j.lane = 'scheduler' AND j.status = 'scheduled' AND j.schedule_arn IS NOT NULL
            AND j.run_at > now() - interval '15 minutes')`;

const STRAY_LANE_JOBS_SQL = `SELECT 'stray_lane_job' AS problem, b.id, j.status, j.lane, j.attempts
  FROM pgboss.job b LEFT JOIN jobs j ON j.id = b.id
 WHERE b.name IN ('switchyard-jobs', 'switchyard-jobs-ordered')
   AND (b.state = 'retry' OR (b.state = 'created' AND b.start_after > now()))
   AND (j.id IS NULL OR j.status IN ('completed', 'failed', 'dead_lettered', 'cancelled'))`;

export const INVARIANT_SQL = `${ORPHANED_ROWS_SQL}
UNION ALL
${STRAY_LANE_JOBS_SQL}`;

/**
 * Runs the orphan half of the invariant with nested loops (and JIT) off, inside the caller's
 * transaction. That half is an anti-join of every unfinished row against the lane's live jobs. With
 * statistics taken while the tables were nearly empty (a new deployment, or a restart after a flood,
 * before autovacuum's ANALYZE), the planner costs the lane side at one row and picks a nested loop
 * that rescans it for every job: quadratic, 5.7 s at 20,000 waiting jobs against 17 ms
 * (`node bench/reconcile.ts`), at start and on every timer tick. A hash anti-join is linear whatever
 * the estimates. The stray half starts from the few lane jobs that wait and probes `jobs` by key,
 * which is what a nested loop does best, so it keeps the planner's defaults.
 */
async function withLinearJoins<T>(db: SqlClient, work: () => Promise<T>): Promise<T> {
  await db.query('SET LOCAL enable_nestloop = off; SET LOCAL jit = off');
  const result = await work();
  // What the repairs run next in this transaction is planned as usual. (A failed statement ends the
  // transaction, and with it both settings.)
  await db.query('SET LOCAL enable_nestloop TO DEFAULT; SET LOCAL jit TO DEFAULT');
  return result;
}

/** What the invariant finds wrong, at most `limit` findings. `db` must be inside a transaction. */
export async function findViolations(db: SqlClient, limit: number): Promise<Finding[]> {
  const orphans = await withLinearJoins(db, async () => (await db.query(`${ORPHANED_ROWS_SQL} LIMIT $1`, [limit])).rows as Finding[]);
  if (orphans.length >= limit) return orphans;
  const strays = (await db.query(`${STRAY_LANE_JOBS_SQL} LIMIT $1`, [limit - orphans.length])).rows as Finding[];
  return [...orphans, ...strays];
}

/** The plans findViolations runs, as EXPLAIN (FORMAT JSON) gives them. `db` must be inside a transaction. */
export async function explainViolations(db: SqlClient): Promise<{ orphans: unknown; strays: unknown }> {
  const explain = async (sql: string) => (await db.query(`EXPLAIN (FORMAT JSON) ${sql} LIMIT 500`)).rows[0]['QUERY PLAN'];
  return { orphans: await withLinearJoins(db, () => explain(ORPHANED_ROWS_SQL)), strays: await explain(STRAY_LANE_JOBS_SQL) };
}

/** The row again, locked, and whether anything live still stands behind it (re-checked inside the repair). */
export async function lockOrphan(db: SqlClient, id: string): Promise<JobRow | undefined> {
  const { rows } = await db.query(
    `SELECT j.* FROM jobs j
      WHERE j.id = $1 AND EXISTS (SELECT 1 FROM (${ORPHANED_ROWS_SQL}) AS v WHERE v.id = $1)
        FOR UPDATE OF j`,
    [id],
  );
  return rows[0];
}

/** Marks an orphaned row as carried on by the DB lane from now, recording a lost attempt if it was running. */
export async function resumeInDbLane(db: SqlClient, row: JobRow, status: 'pending' | 'retrying' | 'scheduled', at: Date, reason: string): Promise<void> {
  await db.query(
    `WITH resumed AS (
       UPDATE jobs SET lane = 'db', status = $2, next_retry_at = CASE WHEN $2 = 'retrying' THEN $6::timestamptz END,
                       last_error = CASE WHEN status = 'running' THEN $3 ELSE last_error END, updated_at = now()
        WHERE id = $1 AND status = $4 AND attempts = $5
        RETURNING id, attempts, started_at, $4 = 'running' AS was_running
     )
     INSERT INTO job_attempts (job_id, attempt, lane, started_at, outcome, error)
     SELECT id, attempts, 'db', started_at, 'lost', $3 FROM resumed WHERE was_running`,
    [row.id, status, reason, row.status, row.attempts, at],
  );
}

/** Ends an orphaned row whose last allowed attempt was lost, as the lane's spare delivery would have. */
export async function deadLetterLost(db: SqlClient, row: JobRow, reason: string): Promise<void> {
  await db.query(
    `WITH ended AS (
       UPDATE jobs SET status = 'dead_lettered', last_error = $2, next_retry_at = NULL, completed_at = now(), updated_at = now()
        WHERE id = $1 AND status = 'running' AND attempts = $3
        RETURNING id, attempts, started_at
     )
     INSERT INTO job_attempts (job_id, attempt, lane, started_at, outcome, error)
     SELECT id, attempts, 'db', started_at, 'lost', $2 FROM ended`,
    [row.id, reason, row.attempts],
  );
}

/** A stray lane job's row, locked, if the job is still stray (its row finished or gone). */
export async function lockStray(db: SqlClient, id: string): Promise<{ groupId: string | null } | undefined> {
  const { rows } = await db.query(
    `SELECT b.singleton_key AS "groupId" FROM pgboss.job b LEFT JOIN jobs j ON j.id = b.id
      WHERE b.name IN ('switchyard-jobs', 'switchyard-jobs-ordered') AND b.id = $1 AND b.state IN ('created', 'retry')
        AND (j.id IS NULL OR j.status IN ('completed', 'failed', 'dead_lettered', 'cancelled'))
        FOR UPDATE OF b`,
    [id],
  );
  return rows[0];
}
