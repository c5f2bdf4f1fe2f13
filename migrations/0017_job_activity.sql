-- Up Migration

-- Jobs created, completed, retried and failed, minute by minute: the dashboard's last hour, and a
-- history an operator can query (docs/sql.md). Counted as it happens, by triggers in the writing
-- transaction, instead of counted from `jobs` at every view: that count visited every row version of
-- the last hour's jobs, three per job until vacuum passes, spread over the heap of a table of
-- millions of finished jobs, so its cost followed the last hour's traffic and autovacuum's timing:
-- 175 ms for 11,000 jobs on a table of 10,000,000 against 21 ms on an empty one (docs/performance.md,
-- "Scale"). Here a view reads at most one row per minute and writing session.
--
-- One row per minute and writing session (`backend`, its pg_backend_pid()): a session runs one
-- transaction at a time, so no two open transactions ever update the same row and no writer waits
-- for another's commit. The counts are events: a job retried by hand and completed again counts
-- twice, and the pruner deleting a job does not uncount it. They roll back with their transaction.
CREATE TABLE job_activity (
  minute     timestamptz NOT NULL,
  backend    integer NOT NULL,
  -- Rows inserted into jobs: creates, batch creates, and the row a mode=sqs job gets when it needs one.
  created    integer NOT NULL DEFAULT 0,
  -- Jobs that became completed.
  completed  integer NOT NULL DEFAULT 0,
  -- Attempts that failed and left their job to retry (job_attempts rows with outcome 'retrying').
  retried    integer NOT NULL DEFAULT 0,
  -- Jobs that became failed or dead-lettered (by a worker, the reconciler or by hand).
  failed     integer NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, backend)
);

-- Statement-level triggers with transition tables: one upsert per statement, whatever its row count
-- (a settle of 100 jobs is one), and every statement that writes these tables is counted, the
-- service's and an operator's by hand alike. What they cost (npm run bench:activity, docs/
-- performance.md, "The last hour's counts"): nothing measurable per executed job; on a single create,
-- the one upsert, 28-46 µs, 10-16% of the create's PostgreSQL CPU. A write in each statement instead
-- (a CTE) or a row trigger cost the same in pgbench, and a CTE cannot go where DbLane.sendWith nests
-- the create's INSERT.
CREATE FUNCTION job_activity_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO job_activity AS a (minute, backend, created)
  SELECT date_trunc('minute', now()), pg_backend_pid(), count(*) FROM inserted_jobs HAVING count(*) > 0
  ON CONFLICT (minute, backend) DO UPDATE SET created = a.created + excluded.created;
  RETURN NULL;
END $$;

-- A job counts when it enters completed, or enters failed/dead_lettered from outside those two (a
-- failed job dead-lettered by hand has already counted as failed).
CREATE FUNCTION job_activity_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO job_activity AS a (minute, backend, completed, failed)
  SELECT date_trunc('minute', now()), pg_backend_pid(),
         count(*) FILTER (WHERE n.status = 'completed'),
         count(*) FILTER (WHERE n.status IN ('failed', 'dead_lettered'))
    FROM new_jobs n JOIN old_jobs o ON o.id = n.id
   WHERE (n.status = 'completed' AND o.status <> 'completed')
      OR (n.status IN ('failed', 'dead_lettered') AND o.status NOT IN ('failed', 'dead_lettered'))
  HAVING count(*) > 0
  ON CONFLICT (minute, backend) DO UPDATE SET completed = a.completed + excluded.completed, failed = a.failed + excluded.failed;
  RETURN NULL;
END $$;

CREATE FUNCTION job_activity_retried() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO job_activity AS a (minute, backend, retried)
  SELECT date_trunc('minute', now()), pg_backend_pid(), count(*) FROM inserted_attempts WHERE outcome = 'retrying' HAVING count(*) > 0
  ON CONFLICT (minute, backend) DO UPDATE SET retried = a.retried + excluded.retried;
  RETURN NULL;
END $$;

CREATE TRIGGER jobs_activity_created AFTER INSERT ON jobs
  REFERENCING NEW TABLE AS inserted_jobs FOR EACH STATEMENT EXECUTE FUNCTION job_activity_created();
CREATE TRIGGER jobs_activity_ended AFTER UPDATE ON jobs
  REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION job_activity_ended();
CREATE TRIGGER job_attempts_activity_retried AFTER INSERT ON job_attempts
  REFERENCING NEW TABLE AS inserted_attempts FOR EACH STATEMENT EXECUTE FUNCTION job_activity_retried();

-- The last hour before this migration, counted once from the rows as the dashboard counted it, so
-- its chart does not start empty. The triggers above hold their tables' write locks from here to the
-- commit, so nothing written meanwhile is missed or counted twice. Backend 0 is no session's.
INSERT INTO job_activity (minute, backend, created, completed, retried, failed)
SELECT minute, 0, sum(created), sum(completed), sum(retried), sum(failed)
  FROM (SELECT date_trunc('minute', created_at) AS minute, 1 AS created, 0 AS completed, 0 AS retried, 0 AS failed
          FROM jobs WHERE created_at >= date_trunc('minute', now()) - interval '59 minutes'
        UNION ALL
        SELECT date_trunc('minute', completed_at), 0, (status = 'completed')::int, 0, (status IN ('failed', 'dead_lettered'))::int
          FROM jobs WHERE completed_at >= date_trunc('minute', now()) - interval '59 minutes'
        UNION ALL
        SELECT date_trunc('minute', finished_at), 0, 0, 1, 0
          FROM job_attempts WHERE finished_at >= date_trunc('minute', now()) - interval '59 minutes' AND outcome = 'retrying') AS counted
 GROUP BY minute;

-- Read only by the count the table replaces, and an entry for every job that finishes. A query by
-- finish time reads jobs_finished_idx (status, updated_at; migration 0014) instead: a finished row's
-- updated_at is when it finished (docs/sql.md). job_attempts_finished_idx stays, for the operator's
-- "what failed in the last hour" (docs/sql.md). IF EXISTS: it may have been dropped CONCURRENTLY first.
DROP INDEX IF EXISTS jobs_completed_at_idx;

-- Down Migration

CREATE INDEX jobs_completed_at_idx ON jobs (completed_at) WHERE completed_at IS NOT NULL;
DROP TRIGGER job_attempts_activity_retried ON job_attempts;
DROP TRIGGER jobs_activity_ended ON jobs;
DROP TRIGGER jobs_activity_created ON jobs;
DROP FUNCTION job_activity_retried();
DROP FUNCTION job_activity_ended();
DROP FUNCTION job_activity_created();
DROP TABLE job_activity;
