-- Up Migration

-- Which lane owns a job's next delivery: 'db' (pg-boss), 'sqs' (the outbox, then the SQS queue) or
-- 'scheduler' (an armed EventBridge schedule). Every claim is fenced on it, with the attempt number:
-- a lane claims only the jobs it owns, so a message SQS delivers again after its job was handed to
-- the DB lane can never run beside the DB lane's attempt. A hand-over moves it in the transaction
-- that gives the job to the other lane.
ALTER TABLE jobs ADD COLUMN lane text NOT NULL DEFAULT 'db' CHECK (lane IN ('db', 'sqs', 'scheduler'));

-- Attempts the service itself gave up on (a stop whose bound ran out, abandoning a running call).
-- They are recorded but do not count against max_attempts: a deploy must not use up a job's chances.
ALTER TABLE jobs ADD COLUMN abandoned_attempts integer NOT NULL DEFAULT 0 CHECK (abandoned_attempts >= 0);

-- Rows made before this migration: a mode=both job that has no DB-lane job is the SQS lane's, and a
-- schedule job waiting for EventBridge is the scheduler's. On a new database pg-boss's schema does
-- not exist yet (the DB lane creates it after migrations) and there are no rows to look at.
DO $$
BEGIN
  IF to_regclass('pgboss.job') IS NOT NULL THEN
    EXECUTE $sql$
      UPDATE jobs j SET lane = 'sqs'
       WHERE j.mode IN ('sqs', 'both')
         AND NOT EXISTS (SELECT 1 FROM pgboss.job b WHERE b.id = j.id AND b.name IN ('switchyard-jobs', 'switchyard-jobs-ordered'))
    $sql$;
  END IF;
END $$;
UPDATE jobs SET lane = 'scheduler' WHERE status = 'scheduled' AND schedule_arn IS NOT NULL;

-- Down Migration

ALTER TABLE jobs DROP COLUMN abandoned_attempts;
ALTER TABLE jobs DROP COLUMN lane;
