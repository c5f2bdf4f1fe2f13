-- Up Migration

-- The job list filtered by a status few jobs end in (failed, dead-lettered, cancelled), newest first:
-- for one app (GET /v1/jobs?appId=…&status=…) and for every app (the dashboard's "dead-lettered"
-- view). Without them a first page read the app's jobs, or the whole table's, from the newest end
-- until it had found 50 in that status, or intersected two large bitmaps: with 10,000,000 finished
-- jobs, 63 ms for one app's cancelled jobs and 153 ms for the dead-lettered ones of all apps, against
-- about 1 ms on an empty table (bench/scale.ts, docs/performance.md). Partial: a job gets an entry only
-- from the write that ends it in one of these statuses, so creates, claims and completions, the hot
-- path, write nothing more.
CREATE INDEX IF NOT EXISTS jobs_app_unsuccessful_idx ON jobs (app_id, status, created_at DESC, id DESC)
  WHERE status IN ('failed', 'dead_lettered', 'cancelled');
CREATE INDEX IF NOT EXISTS jobs_unsuccessful_idx ON jobs (status, created_at DESC, id DESC)
  WHERE status IN ('failed', 'dead_lettered', 'cancelled');

-- Down Migration

DROP INDEX jobs_unsuccessful_idx;
DROP INDEX jobs_app_unsuccessful_idx;
