-- Up Migration

-- One row per job, whatever lane runs it. Every state change of a job shows here; pg-boss's own
-- tables are an implementation detail behind the DB lane. For DB-lane jobs `id` equals the pg-boss
-- job id.
CREATE TABLE jobs (
  id                    uuid PRIMARY KEY,
  app_id                text NOT NULL,
  mode                  text NOT NULL CHECK (mode IN ('db', 'sqs', 'both')),
  execution_type        text NOT NULL CHECK (execution_type IN ('rest-api', 'lambda-url', 'lambda-invoke', 'schedule')),
  lambda_proxy_message  jsonb NOT NULL,
  execution_config      jsonb NOT NULL,
  metadata              jsonb NOT NULL DEFAULT '{}'::jsonb,
  message_group_id      text,
  idempotency_key       text,
  schedule_arn          text,
  status                text NOT NULL DEFAULT 'pending' CHECK (status IN
                          ('pending', 'running', 'retrying', 'completed', 'failed', 'dead_lettered', 'cancelled', 'scheduled')),
  attempts              integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts          integer NOT NULL CHECK (max_attempts >= 1),
  -- The backoff this job retries with: {baseDelaySeconds, maxDelaySeconds}.
  retry_policy          jsonb NOT NULL,
  run_at                timestamptz,
  next_retry_at         timestamptz,
  last_error            text,
  -- {status, durationMs, body (a bounded excerpt), ...} of the last attempt that got an answer.
  last_response         jsonb,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  started_at            timestamptz,
  completed_at          timestamptz,
  -- Legacy contract (POST /v1/jobs/callback-http): the old job type and its original payload.
  type                  text,
  payload               jsonb
);

CREATE INDEX jobs_execution_type_idx ON jobs (execution_type);
CREATE INDEX jobs_status_next_retry_at_idx ON jobs (status, next_retry_at);
CREATE UNIQUE INDEX jobs_app_idempotency_key_idx ON jobs (app_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_schedule_arn_idx ON jobs (schedule_arn) WHERE schedule_arn IS NOT NULL;
-- Listing an app's jobs newest first, and keyset pagination over (created_at, id).
CREATE INDEX jobs_app_created_idx ON jobs (app_id, created_at DESC, id DESC);

-- Down Migration

DROP TABLE jobs;
