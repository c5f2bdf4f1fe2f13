-- Up Migration

-- Two indexes of `jobs` from migration 0001 held every row under a handful of keys: (status,
-- next_retry_at), where nearly all of a month's jobs share ('completed', NULL), and (execution_type),
-- where they share 'rest-api'. Every new row version (a create, a claim, a settle: three per job, none
-- HOT) went into those keys' posting lists at the place its heap position sorts to, deep inside
-- B-trees of 10,000,000 entries; on the table bench/scale-fill.ts makes, the claim and the settle
-- took 4.0 and 5.1 ms per batch of 100 against 2.5 and 3.0 on an empty table, all buffers in memory
-- (npm run bench:scale -- --shared-buffers=4GB), 1.3 times instead after this migration. (The rest of
-- the execution rate's gap on that table is where a job's row versions land: docs/performance.md.)
--
-- The status index now holds only jobs that have not finished: the queue gauges, the oldest job due,
-- the settle's `status = 'running'` and the invariant read it for those statuses alone, and finished
-- jobs have jobs_finished_idx (0014) and the failure lists' indexes (0016). Its size follows the
-- backlog, not the history. The type index is ordered by creation as the lists are, so a new entry
-- goes at the newest end of its type, and a list filtered by type (GET /v1/jobs?executionType=, a
-- bulk action) is a range read instead of a filter.
--
-- IF NOT EXISTS: on a large table, build them first with CREATE INDEX CONCURRENTLY and the same
-- definitions (docs/operations.md, "Upgrading a large deployment").
CREATE INDEX IF NOT EXISTS jobs_unfinished_status_idx ON jobs (status, next_retry_at)
  WHERE status IN ('pending', 'running', 'retrying', 'scheduled');
CREATE INDEX IF NOT EXISTS jobs_type_created_idx ON jobs (execution_type, created_at DESC, id DESC);
DROP INDEX IF EXISTS jobs_status_next_retry_at_idx;
DROP INDEX IF EXISTS jobs_execution_type_idx;

-- Down Migration

CREATE INDEX jobs_execution_type_idx ON jobs (execution_type);
CREATE INDEX jobs_status_next_retry_at_idx ON jobs (status, next_retry_at);
DROP INDEX jobs_type_created_idx;
DROP INDEX jobs_unfinished_status_idx;
