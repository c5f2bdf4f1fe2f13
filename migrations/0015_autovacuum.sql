-- Up Migration

-- Autovacuum for `jobs`, the table every job writes three times (the create, the claim, the settle)
-- and the pruner deletes from (docs/operations.md, "Table health: autovacuum and bloat"). PostgreSQL's
-- defaults vacuum a table once a fifth of it is dead and analyze it once a tenth has changed: at
-- 10,000,000 rows that is 2,000,000 dead row versions before a pass and 1,000,000 changes before the
-- planner hears of a backlog. Measured with `npm run bench:autovacuum` (2,000,000 finished jobs, then
-- 5 minutes of creating and running 500-900 jobs/s): with the defaults no pass came in 5 minutes,
-- dead versions reached 340,000-440,000 and the heap grew 80-125 MB. At 1%, with no cost-based
-- sleeps, a pass came every minute (autovacuum_naptime), dead versions stayed under 100,000 and the
-- heap grew by 0-9 MB, the dead versions' space reused. At 2% with the default sleeps (2 ms per 200
-- pages' worth) one pass over the table and its indexes took 90 s and dead versions reached 200,000.
-- Updates here can never be HOT (status is indexed), so a lower fillfactor would only spread rows.
ALTER TABLE jobs SET (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_scale_factor = 0.01,
  autovacuum_analyze_scale_factor = 0.01,
  autovacuum_vacuum_cost_delay = 0
);

-- job_attempts keeps the defaults: rows are only inserted, and deleted with their job by the pruner;
-- under the same load it held no dead row versions and under 1% free space.
-- pg-boss's job table gets its settings from the DB lane at every start (LANE_TABLE_SETTINGS in
-- src/lanes/db-lane.ts): on a new database pg-boss creates it after these migrations have run.

-- Down Migration

ALTER TABLE jobs RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor, autovacuum_vacuum_cost_delay);
