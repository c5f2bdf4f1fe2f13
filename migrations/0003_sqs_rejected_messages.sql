-- Up Migration

-- SQS messages the poller could not read as a job (not JSON, or not the envelope Switchyard sends).
-- They are recorded here with their raw body, as failed, and deleted from the queue, so one bad
-- message never blocks its group or stops the poller. A malformed message is not a job: it has no
-- app, no execution and no attempts, so it does not fit the jobs table.
CREATE TABLE sqs_rejected_messages (
  message_id    text PRIMARY KEY,
  status        text NOT NULL DEFAULT 'failed' CHECK (status = 'failed'),
  body          text NOT NULL,
  error         text NOT NULL,
  group_id      text,
  received_at   timestamptz NOT NULL DEFAULT now()
);

-- Down Migration

DROP TABLE sqs_rejected_messages;
