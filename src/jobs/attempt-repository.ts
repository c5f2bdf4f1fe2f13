// The SQL of an attempt's life: the one claim and the one settle every lane and the scheduler
// callback use, the lost-attempt sweep, and the attempt history (job_attempts, migration 0008).
//
// Every statement here that moves or settles an attempt names the attempt it is about: a claim
// takes only a NEWER attempt of a job its lane owns (`attempts < $attempt AND lane = $lane`), and a
// settle changes the row only while that same attempt is still the one running (`status =
// 'running' AND attempts = $attempt`). A late writer, such as a batch that outlived its claim, a
// callback counted lost, or a redelivered message, therefore matches nothing, and says so.
import { named } from '../db/prepared.ts';
import type { SqlClient } from '../db/sql-client.ts';
import { DUE_AT, type JobRow } from './job-repository.ts';

export type LaneName = 'db' | 'sqs' | 'scheduler';
export type SettledStatus = 'completed' | 'retrying' | 'failed' | 'dead_lettered';

/** What running an attempt needs of its row, and no more: every column returned is parsed per job. */
export type RunnableRow = Pick<JobRow,
  'id' | 'app_id' | 'execution_type' | 'lambda_proxy_message' | 'execution_config' | 'idempotency_key'
  | 'max_attempts' | 'abandoned_attempts' | 'message_group_id' | 'started_at' | 'traceparent' | 'tracestate'> & {
  /** When this attempt was due (see DUE_AT), for the queue-wait metric. */
  due_at: Date;
};

/** A job whose lane delivered it once more after its last allowed attempt was lost: dead-lettered by the claim. */
export type ExhaustedRow = Pick<JobRow, 'id' | 'app_id' | 'execution_type' | 'attempts' | 'max_attempts' | 'last_error'>;

export interface Claimed {
  runnable: RunnableRow[];
  exhausted: ExhaustedRow[];
}

/**
 * Claims attempts for `lane`, one statement for a whole batch. A row is claimed when its lane owns
 * it, it is not finished, and the attempt is newer than the one it last had; anything else (a
 * cancelled job, a stale or repeated delivery, a job another lane now owns) is not returned and its
 * delivery is let go. A claim that finds the previous attempt still `running` records it as lost.
 * An attempt past the last allowed one (max_attempts, plus any the service abandoned) is not run:
 * the lane kept one spare delivery for exactly this, the loss of the last attempt's worker, and the
 * claim dead-letters the job instead. `nextLane` hands ownership on with the claim (the scheduler
 * callback's claim gives the next delivery to the DB lane's safety net).
 */
export async function claimAttempts(db: SqlClient, lane: LaneName, claims: { id: string; attempt: number }[], nextLane: LaneName | null = null): Promise<Claimed> {
  if (claims.length === 0) return { runnable: [], exhausted: [] };
  const { rows } = await db.query(named(
    `WITH wanted AS (
       SELECT * FROM unnest($1::uuid[], $2::int[]) AS w(id, attempt)
     ), current AS (
       SELECT j.id, j.status, j.attempts, j.started_at, ${DUE_AT('j')} AS due_at, w.attempt,
              -- retry-policy.ts allowedAttempts: abandoned attempts are free, up to max_attempts of them.
              w.attempt > j.max_attempts + LEAST(j.abandoned_attempts, j.max_attempts) AS exhausted
         FROM jobs j JOIN wanted w ON w.id = j.id
        WHERE j.lane = $3
          -- Not finished, said as NOT IN the finished statuses (the same rows: status has a CHECK), which
          -- no index can answer: each wanted job is reached by its key, 100 probes for a batch of 100.
          -- Said as IN the others, the planner walked the status index (now jobs_unfinished_status_idx)
          -- whenever its statistics showed almost no unfinished rows, which is what a table of millions
          -- of finished jobs shows between autovacuum's analyzes (every 1% of it since migration 0015):
          -- every claim read every waiting row, 3,000 for a batch of 100, and a backlog drained in
          -- quadratic time; with "j.id = ANY($1)" beside it, it joined every key found to every wanted
          -- row (100 x 100). bench/scale.ts, docs/performance.md.
          AND j.status NOT IN ('completed', 'failed', 'dead_lettered', 'cancelled') AND j.attempts < w.attempt
          FOR UPDATE OF j
     ), claimed AS (
       UPDATE jobs j
          SET status = CASE WHEN c.exhausted THEN 'dead_lettered' ELSE 'running' END,
              attempts = CASE WHEN c.exhausted THEN j.attempts ELSE c.attempt END,
              started_at = CASE WHEN c.exhausted THEN j.started_at ELSE now() END,
              completed_at = CASE WHEN c.exhausted THEN now() END,
              last_error = CASE WHEN c.exhausted THEN 'the worker running attempt ' || j.attempts || ' of ' || j.attempts || ' was lost' ELSE j.last_error END,
              next_retry_at = NULL,
              lane = COALESCE($4, j.lane),
              updated_at = now()
         FROM current c
        WHERE j.id = c.id
        RETURNING j.id, j.app_id, j.execution_type, j.lambda_proxy_message, j.execution_config, j.idempotency_key,
                  j.max_attempts, j.abandoned_attempts, j.message_group_id, j.started_at, j.traceparent, j.tracestate, c.due_at,
                  j.attempts, j.last_error, c.exhausted,
                  c.status AS previous_status, c.attempts AS previous_attempt, c.started_at AS previous_started_at,
                  j.schedule_arn IS NOT NULL AND c.attempts = 1 AS previous_by_scheduler
     ), lost AS (
       INSERT INTO job_attempts (job_id, attempt, lane, started_at, outcome, error)
       SELECT id, previous_attempt, CASE WHEN previous_by_scheduler THEN 'scheduler' ELSE $3 END, previous_started_at, 'lost',
              'the worker running attempt ' || previous_attempt || ' stopped before recording an outcome'
         FROM claimed WHERE previous_status = 'running'
     )
     SELECT id, app_id, execution_type, lambda_proxy_message, execution_config, idempotency_key, max_attempts,
            abandoned_attempts, message_group_id, started_at, traceparent, tracestate, due_at, attempts, last_error, exhausted
       FROM claimed`,
    [claims.map((claim) => claim.id), claims.map((claim) => claim.attempt), lane, nextLane],
  ));
  const claimed: Claimed = { runnable: [], exhausted: [] };
  for (const { exhausted, attempts, last_error, ...row } of rows) {
    if (exhausted) claimed.exhausted.push({ id: row.id, app_id: row.app_id, execution_type: row.execution_type, attempts, max_attempts: row.max_attempts, last_error });
    else claimed.runnable.push(row);
  }
  return claimed;
}

export interface AttemptOutcome {
  id: string;
  /** The attempt being settled, as claimed. */
  attempt: number;
  /** The lane that ran it (for the history). */
  lane: LaneName;
  status: SettledStatus;
  /** The service gave this attempt up (a stop): recorded, and not counted against max_attempts. */
  abandoned?: boolean;
  lastError: string | null;
  lastResponse: { status?: number; durationMs?: number } | null;
  nextRetryAt: Date | null;
  /** When the attempt began, if the row's started_at does not say (a mode=sqs job's row is made after it ran). */
  startedAt?: Date;
  /** The lane that owns the job from now on, when the settle hands it over (the SQS lane to the DB lane). */
  nextLane?: LaneName;
}

/**
 * Settles attempts in one statement: the jobs rows and their history rows. A row changes only while
 * the attempt settled is still its running attempt; the ids returned are those that changed, and a
 * caller that settled more than came back has a late writer to report. The DB lane's first attempt
 * that completes writes no history row: the jobs row says all of it, and it is most attempts.
 * `j.id = ANY($2)` is there for the planner: joined only to the recordset (which it guesses at 100
 * rows), it reached the rows through the status index instead, where every earlier `running` row
 * leaves a dead entry until vacuum: 345 heap pages read for 50 rows in the benchmark, 2.4 ms a batch.
 */
export async function settleAttempts(db: SqlClient, outcomes: AttemptOutcome[]): Promise<Set<string>> {
  if (outcomes.length === 0) return new Set();
  const { rows } = await db.query(named(
    `WITH settled AS (
       UPDATE jobs AS j
          SET status = r.status,
              last_error = r.last_error,
              last_response = COALESCE(r.last_response, j.last_response),
              next_retry_at = r.next_retry_at,
              completed_at = CASE WHEN r.status IN ('completed', 'failed', 'dead_lettered') THEN now() END,
              abandoned_attempts = j.abandoned_attempts + CASE WHEN r.abandoned THEN 1 ELSE 0 END,
              lane = COALESCE(r.next_lane, j.lane),
              updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, attempt int, lane text, status text, abandoned boolean, last_error text,
                                                last_response jsonb, next_retry_at timestamptz, started_at timestamptz, next_lane text)
        WHERE j.id = ANY($2::uuid[]) AND j.id = r.id AND j.status = 'running' AND j.attempts = r.attempt
        RETURNING j.id, r.attempt, r.lane, COALESCE(r.started_at, j.started_at) AS started_at,
                  CASE WHEN r.abandoned THEN 'abandoned' ELSE r.status END AS outcome, r.last_error, r.last_response
     ), history AS (
       INSERT INTO job_attempts (job_id, attempt, lane, started_at, outcome, http_status, duration_ms, error)
       SELECT id, attempt, lane, started_at, outcome, (last_response->>'status')::int,
              COALESCE((last_response->>'durationMs')::numeric, extract(epoch FROM now() - started_at) * 1000)::int, last_error
         FROM settled
        WHERE NOT (lane = 'db' AND attempt = 1 AND outcome = 'completed')
     )
     SELECT id FROM settled`,
    [JSON.stringify(outcomes.map((outcome) => ({
      id: outcome.id, attempt: outcome.attempt, lane: outcome.lane, status: outcome.status, abandoned: outcome.abandoned ?? false,
      last_error: outcome.lastError, last_response: outcome.lastResponse ?? null, next_retry_at: outcome.nextRetryAt,
      started_at: outcome.startedAt ?? null, next_lane: outcome.nextLane ?? null,
    }))), outcomes.map((outcome) => outcome.id)],
  ));
  return new Set(rows.map((row: { id: string }) => row.id));
}

/**
 * Gives a job from one lane to another between attempts (the SQS lane's job whose group the DB lane
 * holds), fenced on the lane it is taken from: only one hand-over, or one claim, can win.
 */
export async function handOver(db: SqlClient, id: string, from: LaneName, to: LaneName): Promise<boolean> {
  const { rows } = await db.query(
    `UPDATE jobs SET lane = $3, status = CASE WHEN status = 'running' THEN 'retrying' ELSE status END, updated_at = now()
      WHERE id = $1 AND lane = $2 AND status IN ('pending', 'running', 'retrying')
      RETURNING id`,
    [id, from, to],
  );
  return rows.length === 1;
}

export interface LostAttempt {
  id: string;
  attempt: number;
}

/**
 * Finds attempts whose worker is gone and brings their DB-lane job forward to run now, like an SQS
 * message whose visibility timeout ran out, in ONE statement that changes the row and the lane job
 * together, each fenced on what it was found as. An attempt is lost when the row still shows it
 * running while no DB-lane worker holds it (its lane job waits, not active) and either pg-boss took
 * that attempt's expired claim back (the job still carries its retry_count) or the attempt has run
 * `graceSeconds` past its timeout (an attempt made elsewhere: the scheduler callback's, whose safety
 * net waits in the lane). Whatever lane ran the attempt, the DB lane carries the job on. Oldest
 * first, at most `limit`, so no row is read again and again while others wait.
 *
 * The lane job's start_after is written directly: pg-boss's own update() cannot be fenced on the
 * retry_count, and without the fence a worker's newer claim could be moved. Waking workers is left
 * to their 0.5 s poll.
 */
export async function recoverLostAttempts(db: SqlClient, queues: string[], defaultTimeoutMs: number, graceSeconds: number, limit: number): Promise<LostAttempt[]> {
  const { rows } = await db.query(
    `WITH lost AS (
       SELECT j.id, j.attempts, j.started_at, b.name AS queue, b.retry_count, b.state
         FROM jobs j JOIN pgboss.job b ON b.id = j.id AND b.name = ANY($1::text[])
        WHERE j.status = 'running' AND b.state IN ('created', 'retry')
          AND (b.retry_count + 1 + COALESCE((b.data->>'attemptOffset')::int, 0) = j.attempts
            OR j.started_at < now() - make_interval(secs => COALESCE((j.execution_config->>'timeoutMs')::int,
                 (j.execution_config->'targetExecution'->>'timeoutMs')::int, $2) / 1000.0 + $3))
        ORDER BY j.started_at
        LIMIT $4
     ), moved AS (
       UPDATE pgboss.job b SET start_after = now()
         FROM lost
        WHERE b.name = lost.queue AND b.id = lost.id AND b.state = lost.state AND b.retry_count = lost.retry_count
        RETURNING b.id
     ), marked AS (
       UPDATE jobs j
          SET status = 'retrying', next_retry_at = now(), updated_at = now(),
              last_error = 'the worker running attempt ' || j.attempts || ' stopped before recording an outcome'
         FROM lost
        WHERE j.id = lost.id AND j.status = 'running' AND j.attempts = lost.attempts AND j.id IN (SELECT id FROM moved)
        RETURNING j.id, j.attempts, j.last_error, lost.started_at, j.schedule_arn IS NOT NULL AND j.attempts = 1 AS by_scheduler
     ), history AS (
       INSERT INTO job_attempts (job_id, attempt, lane, started_at, outcome, error)
       SELECT id, attempts, CASE WHEN by_scheduler THEN 'scheduler' ELSE 'db' END, started_at, 'lost', last_error FROM marked
     )
     SELECT id, attempts AS attempt FROM marked`,
    [queues, defaultTimeoutMs, graceSeconds, limit],
  );
  return rows;
}

export interface AttemptRow {
  attempt: number;
  lane: LaneName;
  started_at: Date | null;
  finished_at: Date;
  outcome: SettledStatus | 'lost' | 'abandoned';
  http_status: number | null;
  duration_ms: number | null;
  error: string | null;
}

/**
 * A job's attempts, oldest first. A DB-lane first attempt that completed is not stored as a row
 * (see settleAttempts); it is drawn here from the jobs row, so the history is whole either way. "No
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
