// The pruner's SQL: one statement per batch, each deleting at most `limit` expired rows of one kind.
import { named } from '../db/prepared.ts';
import type { SqlClient } from '../db/sql-client.ts';
import { QUEUES } from '../lanes/db-lane.ts';
import { OUTBOX_QUEUE } from '../sqs/sqs-outbox.ts';

/** The statuses a job never leaves on its own; only a retry by hand makes one of them unfinished again. */
export const FINISHED_STATUSES = ['completed', 'failed', 'dead_lettered', 'cancelled'] as const;
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

// Every pg-boss queue whose job ids are jobs ids: the DB lane's queues (a lane job, or the safety net
// of a scheduled job) and the SQS outbox (the entry that carried a mode=both job to SQS).
const LANE_QUEUES = [...QUEUES, OUTBOX_QUEUE];

export interface PrunedBatch {
  jobs: number;
  /** Settled pg-boss entries of those jobs that pg-boss had not deleted yet. */
  laneJobs: number;
}

/**
 * Deletes up to `limit` jobs of `status` that finished more than `olderThanSeconds` ago, with their
 * attempt history (the foreign key cascades) and their settled pg-boss entries, in one statement:
 * pg-boss never keeps an entry whose job is gone.
 *
 * `jobs_finished_idx` (migration 0014) is read from its oldest end for the one status, so the batch
 * reads only rows it deletes. The repeated `status IN (...)` lets the planner use that partial index
 * for the prepared statement's generic plan, where `status = $1` alone proves nothing. Rows are
 * locked `SKIP LOCKED`: a finished row is written again only by a retry by hand, and the lock's
 * recheck leaves alone one retried a moment earlier. A lane entry still waiting or active is left
 * to the reconciler (a stray): deleting it here would hide that something was wrong.
 */
export async function pruneFinishedJobs(db: SqlClient, status: FinishedStatus, olderThanSeconds: number, limit: number): Promise<PrunedBatch> {
  const { rows: [row] } = await db.query(named(
    `WITH doomed AS (
       SELECT id FROM jobs
        WHERE status = $1 AND status IN ('completed', 'failed', 'dead_lettered', 'cancelled')
          AND updated_at < now() - make_interval(secs => $2)
        ORDER BY status, updated_at
        LIMIT $3
        FOR UPDATE SKIP LOCKED
     ), lane AS (
       DELETE FROM pgboss.job b
        WHERE b.name = ANY($4::text[]) AND b.id IN (SELECT id FROM doomed)
          AND b.state IN ('completed', 'failed', 'cancelled')
        RETURNING 1
     ), gone AS (
       DELETE FROM jobs j WHERE j.id IN (SELECT id FROM doomed) RETURNING 1
     )
     SELECT (SELECT count(*) FROM gone)::int AS jobs, (SELECT count(*) FROM lane)::int AS lane_jobs`,
    [status, olderThanSeconds, limit, LANE_QUEUES],
  ));
  return { jobs: row.jobs, laneJobs: row.lane_jobs };
}

/** Rejected SQS messages (a record of what could not be read as a job), kept as long as failed jobs. */
export async function pruneRejectedMessages(db: SqlClient, olderThanSeconds: number, limit: number): Promise<number> {
  const { rows: [row] } = await db.query(
    `WITH gone AS (
       DELETE FROM sqs_rejected_messages WHERE message_id IN (
         SELECT message_id FROM sqs_rejected_messages
          WHERE received_at < now() - make_interval(secs => $1) ORDER BY received_at LIMIT $2)
       RETURNING 1)
     SELECT count(*)::int AS n FROM gone`,
    [olderThanSeconds, limit],
  );
  return row.n;
}

/** Finished bulk actions (their counts and filter), kept as long as failed jobs. */
export async function pruneFinishedBulkActions(db: SqlClient, olderThanSeconds: number, limit: number): Promise<number> {
  const { rows: [row] } = await db.query(
    `WITH gone AS (
       DELETE FROM bulk_actions WHERE id IN (
         SELECT id FROM bulk_actions
          WHERE status <> 'running' AND finished_at < now() - make_interval(secs => $1) ORDER BY finished_at LIMIT $2)
       RETURNING 1)
     SELECT count(*)::int AS n FROM gone`,
    [olderThanSeconds, limit],
  );
  return row.n;
}

/** Per-minute activity counts (migration 0017), kept as long as the completed jobs they counted. */
export async function pruneActivityMinutes(db: SqlClient, olderThanSeconds: number, limit: number): Promise<number> {
  const { rows: [row] } = await db.query(
    `WITH gone AS (
       DELETE FROM job_activity WHERE (minute, backend) IN (
         SELECT minute, backend FROM job_activity
          WHERE minute < now() - make_interval(secs => $1) ORDER BY minute LIMIT $2)
       RETURNING 1)
     SELECT count(*)::int AS n FROM gone`,
    [olderThanSeconds, limit],
  );
  return row.n;
}
