-- Up Migration

-- Retention (src/retention/): a finished job is deleted RETAIN_COMPLETED after it completed, or
-- RETAIN_FAILED after it failed, was dead-lettered or cancelled. `updated_at` is when a finished row
-- finished (every write that ends a job sets it, and nothing writes a finished row but a retry by
-- hand, which makes it unfinished again). The pruner walks this index from the oldest end for one
-- status at a time, so a batch reads only rows it deletes, however many unfinished or younger rows
-- the table holds. Partial: unfinished rows, the ones that change, have no entry; a row gets its
-- one entry when it finishes, the write that ends it.
-- IF NOT EXISTS: on a large existing table an operator builds it first with CREATE INDEX
-- CONCURRENTLY (docs/operations.md, "Upgrading a large deployment"), which a migration, run in a
-- transaction, cannot.
CREATE INDEX IF NOT EXISTS jobs_finished_idx ON jobs (status, updated_at)
  WHERE status IN ('completed', 'failed', 'dead_lettered', 'cancelled');

-- Finished bulk actions and rejected SQS messages are kept as long as failed jobs.
CREATE INDEX IF NOT EXISTS bulk_actions_finished_idx ON bulk_actions (finished_at) WHERE status <> 'running';
CREATE INDEX IF NOT EXISTS sqs_rejected_messages_received_idx ON sqs_rejected_messages (received_at);

-- Down Migration

DROP INDEX sqs_rejected_messages_received_idx;
DROP INDEX bulk_actions_finished_idx;
DROP INDEX jobs_finished_idx;
