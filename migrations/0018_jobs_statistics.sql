-- Up Migration

-- No planner statistics for the columns of `jobs` that carry a job's message and answer: no query of
-- the service filters, joins or groups on them, and computing their statistics was almost half of
-- every ANALYZE of the table. Migration 0015 has autovacuum analyze `jobs` after every 1% of it
-- changed (100,000 rows at 10,000,000), about every 33,000 jobs run; on the 10,000,000-job table
-- bench/scale-fill.ts makes, an ANALYZE took 887-992 ms with these statistics and 559-614 ms without
-- them, three of each, alternating (the sample of 30,000 rows is read either way; what goes is
-- detoasting and sorting their JSON). An operator's ad-hoc filter on one of them (metadata @> …, say) is
-- estimated with the planner's defaults instead, which for such a filter on millions of rows is a
-- sequential scan either way. The columns queried by status, app, time, group and key keep theirs.
ALTER TABLE jobs
  ALTER COLUMN lambda_proxy_message SET STATISTICS 0,
  ALTER COLUMN execution_config SET STATISTICS 0,
  ALTER COLUMN metadata SET STATISTICS 0,
  ALTER COLUMN last_response SET STATISTICS 0,
  ALTER COLUMN payload SET STATISTICS 0,
  ALTER COLUMN retry_policy SET STATISTICS 0,
  ALTER COLUMN traceparent SET STATISTICS 0,
  ALTER COLUMN tracestate SET STATISTICS 0;

-- Down Migration

ALTER TABLE jobs
  ALTER COLUMN lambda_proxy_message SET STATISTICS -1,
  ALTER COLUMN execution_config SET STATISTICS -1,
  ALTER COLUMN metadata SET STATISTICS -1,
  ALTER COLUMN last_response SET STATISTICS -1,
  ALTER COLUMN payload SET STATISTICS -1,
  ALTER COLUMN retry_policy SET STATISTICS -1,
  ALTER COLUMN traceparent SET STATISTICS -1,
  ALTER COLUMN tracestate SET STATISTICS -1;
