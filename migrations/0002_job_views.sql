-- Up Migration

-- Listing every app's jobs newest first, and keyset pagination over (created_at, id) without an app.
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);

-- For people who look with psql: how many jobs each app has in each state and of each type, and
-- for pending jobs, how long the oldest one that is due has waited since it became due (a delayed
-- job is not late before its run_at).
CREATE VIEW job_overview AS
SELECT app_id,
       status,
       execution_type,
       count(*) AS jobs,
       now() - min(COALESCE(run_at, created_at))
                 FILTER (WHERE status = 'pending' AND COALESCE(run_at, created_at) <= now()) AS oldest_pending_age
  FROM jobs
 GROUP BY app_id, status, execution_type;

-- Jobs that ended badly or are still failing, newest failure first, with the error that ended them.
CREATE VIEW job_failures AS
SELECT id,
       app_id,
       execution_type,
       status,
       attempts,
       max_attempts,
       last_error,
       last_response->>'status'  AS last_http_status,
       message_group_id,
       next_retry_at,
       updated_at                AS failed_at,
       created_at
  FROM jobs
 WHERE status IN ('failed', 'dead_lettered', 'retrying')
   AND last_error IS NOT NULL
 ORDER BY updated_at DESC;

-- Down Migration

DROP VIEW job_failures;
DROP VIEW job_overview;
DROP INDEX jobs_created_idx;
