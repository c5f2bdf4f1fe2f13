-- Up Migration

-- Bulk actions (src/admin/bulk-actions.ts): retry, cancel or dead-letter every job that matches a
-- filter, in chunks. The row is the whole state of a run, so that any service process can resume one
-- that stopped (its lease ran out) exactly where it stopped: jobs are taken in (created_at, id)
-- order, and each job's change commits together with the advance of the cursor past it, so no job is
-- changed twice. Only jobs created up to `snapshot_at` are taken: a job created during the run is
-- not part of it.
CREATE TABLE bulk_actions (
  id                 uuid PRIMARY KEY,
  action             text NOT NULL CHECK (action IN ('retry', 'cancel', 'deadletter')),
  -- {appId, status, executionType, messageGroupId, createdAfter, createdBefore}, as the API took it.
  filter             jsonb NOT NULL,
  -- The app an app key's bulk action is limited to; NULL for an admin's.
  app_scope          text,
  requested_by       text NOT NULL,
  status             text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'cancelled')),
  snapshot_at        timestamptz NOT NULL,
  -- Jobs that matched when the action was made; the run ends when none is left to take.
  total              integer NOT NULL,
  changed            integer NOT NULL DEFAULT 0,
  -- Reached, but their state no longer allowed the action (a worker or a person got there first).
  skipped            integer NOT NULL DEFAULT 0,
  cursor_created_at  timestamptz,
  cursor_id          uuid,
  -- The process running it, and until when; a lease that ran out lets another process resume it.
  lease_owner        text,
  lease_until        timestamptz,
  -- The last error that interrupted the run (it is resumed after its lease runs out).
  last_error         text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  finished_at        timestamptz
);

CREATE INDEX bulk_actions_created_idx ON bulk_actions (created_at DESC);
CREATE INDEX bulk_actions_running_idx ON bulk_actions (lease_until) WHERE status = 'running';

-- Dashboard sessions (src/apps/dashboard-sessions.ts): a person logs in with an admin key once and
-- gets an opaque session id in an HttpOnly cookie. Only its SHA-256 is kept (like API keys), with the
-- CSRF token its forms carry. In the database rather than in memory, so a session works on every
-- service process behind a load balancer and outlives a restart; it ends at expires_at, at logout,
-- or as soon as the admin key it was opened with is revoked (checked at every request).
CREATE TABLE dashboard_sessions (
  id_hash     bytea PRIMARY KEY,
  key_id      text NOT NULL REFERENCES api_keys (key_id) ON DELETE CASCADE,
  csrf_token  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);

-- The dashboard's last hour: jobs that ended, minute by minute, and the latest failures. Partial:
-- an entry is added only by the update that finishes a job, not by creates or claims.
CREATE INDEX jobs_completed_at_idx ON jobs (completed_at) WHERE completed_at IS NOT NULL;
-- The job list filtered by message group, newest first (the dashboard, GET /v1/jobs?messageGroupId=).
-- Partial: jobs without a group add nothing. Without it a group's page read the whole table from
-- the newest end (477 ms at 1,000,000 jobs, bench/operator-pages.ts).
CREATE INDEX jobs_group_created_idx ON jobs (message_group_id, created_at DESC, id DESC) WHERE message_group_id IS NOT NULL;
-- Attempts that retried, minute by minute. job_attempts only grows, in finished_at order.
CREATE INDEX job_attempts_finished_idx ON job_attempts (finished_at);

-- Down Migration

DROP INDEX job_attempts_finished_idx;
DROP INDEX jobs_group_created_idx;
DROP INDEX jobs_completed_at_idx;
DROP TABLE dashboard_sessions;
DROP TABLE bulk_actions;
