-- Up Migration

-- Every attempt of a job that an operator may need to see after the fact: when it ran, in which
-- lane, how it ended, what the target answered and why it failed (redacted, as in jobs.last_error).
-- The DB lane's first attempt that completes is NOT written here: it is the common path, and the
-- jobs row already says all of it (started_at, completed_at, last_response); reading the history
-- shows it from that row (src/jobs/attempt-repository.ts). Everything else is: failures, retries,
-- lost and abandoned attempts, and every attempt of the SQS lane and the scheduler callback.
-- `attempt` restarts at 1 when a job is retried by hand, so rows are ordered by `id`.
CREATE TABLE job_attempts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id        uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  attempt       integer NOT NULL CHECK (attempt >= 1),
  lane          text NOT NULL CHECK (lane IN ('db', 'sqs', 'scheduler')),
  started_at    timestamptz,
  finished_at   timestamptz NOT NULL DEFAULT now(),
  -- What the attempt made of the job: completed, retrying, failed or dead_lettered; `lost` when its
  -- worker died before recording anything, `abandoned` when the service gave it up (shutdown).
  outcome       text NOT NULL CHECK (outcome IN ('completed', 'retrying', 'failed', 'dead_lettered', 'lost', 'abandoned')),
  http_status   integer,
  duration_ms   integer,
  error         text
);

-- A job's history, oldest first; also what the cascade from a deleted job walks.
CREATE INDEX job_attempts_job_idx ON job_attempts (job_id, id);

-- Down Migration

DROP TABLE job_attempts;
