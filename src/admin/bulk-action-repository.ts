// The bulk_actions table's SQL (migration 0012), one function per statement. A run takes jobs in
// (created_at, id) order; the cursor is the last job it is done with, compared in SQL so that
// created_at keeps its microseconds (a JavaScript Date would round them away).
import type { SqlClient } from '../db/sql-client.ts';
import type { JobStatus } from '../jobs/job-repository.ts';
import { filterConditions, type JobFilter } from './job-admin-repository.ts';

export type BulkActionName = 'retry' | 'cancel' | 'deadletter';

export interface BulkActionRow {
  id: string;
  action: BulkActionName;
  filter: JobFilter;
  app_scope: string | null;
  requested_by: string;
  status: 'running' | 'completed' | 'cancelled';
  snapshot_at: Date;
  total: number;
  changed: number;
  skipped: number;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

// A run renews its lease at every chunk; one that stops renewing (its process died) is resumed
// by another process this long after its last renewal.
const LEASE_SECONDS = 30;

/** The jobs matching `filter` in one of `statuses`, created up to now. */
export async function countCandidates(db: SqlClient, filter: JobFilter, statuses: JobStatus[]): Promise<number> {
  const values: unknown[] = [statuses];
  const conditions = ['status = ANY($1::text[])', 'created_at <= now()', ...filterConditions(filter, values)];
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM jobs WHERE ${conditions.join(' AND ')}`, values);
  return rows[0].n;
}

/** Records a new run with the number of jobs it matches now; `now()` is its snapshot. */
export async function insertBulkAction(
  db: SqlClient,
  action: { id: string; action: BulkActionName; filter: JobFilter; appScope: string | null; requestedBy: string; total: number },
): Promise<BulkActionRow> {
  const { rows } = await db.query(
    `INSERT INTO bulk_actions (id, action, filter, app_scope, requested_by, snapshot_at, total)
     VALUES ($1, $2, $3, $4, $5, now(), $6) RETURNING *`,
    [action.id, action.action, action.filter, action.appScope, action.requestedBy, action.total],
  );
  return rows[0];
}

export async function findBulkAction(db: SqlClient, id: string): Promise<BulkActionRow | undefined> {
  const { rows } = await db.query('SELECT * FROM bulk_actions WHERE id = $1', [id]);
  return rows[0];
}

/** The latest runs, newest first; `appScope` limits them to one app's. */
export async function listBulkActions(db: SqlClient, appScope: string | undefined, limit: number): Promise<BulkActionRow[]> {
  const { rows } = await db.query(
    `SELECT * FROM bulk_actions WHERE ($1::text IS NULL OR app_scope = $1) ORDER BY created_at DESC LIMIT $2`,
    [appScope ?? null, limit],
  );
  return rows;
}

/**
 * Takes or renews the lease of a running run for `owner`: it succeeds when `owner` holds it already,
 * or when nobody does (a new run, or one whose process stopped renewing). Returns the row, or
 * nothing when the run is not running or another process holds it.
 */
export async function takeLease(db: SqlClient, id: string, owner: string): Promise<BulkActionRow | undefined> {
  const { rows } = await db.query(
    `UPDATE bulk_actions SET lease_owner = $2, lease_until = now() + make_interval(secs => $3), updated_at = now()
      WHERE id = $1 AND status = 'running' AND (lease_owner = $2 OR lease_until IS NULL OR lease_until < now())
      RETURNING *`,
    [id, owner, LEASE_SECONDS],
  );
  return rows[0];
}

/** Runs nobody is working on: their process stopped before the lease ran out. */
export async function findAbandoned(db: SqlClient, limit: number): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT id FROM bulk_actions WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now()) ORDER BY created_at LIMIT $1`,
    [limit],
  );
  return rows.map((row: { id: string }) => row.id);
}

/** The next jobs after the run's cursor that match its filter and are in one of `statuses`. */
export async function nextChunk(db: SqlClient, run: BulkActionRow, statuses: JobStatus[], limit: number): Promise<string[]> {
  const values: unknown[] = [run.id, statuses, limit];
  const conditions = [
    'status = ANY($2::text[])',
    'created_at <= b.snapshot_at',
    '(b.cursor_id IS NULL OR (created_at, id) > (b.cursor_created_at, b.cursor_id))',
    ...filterConditions(run.filter, values),
  ];
  const { rows } = await db.query(
    `WITH b AS (SELECT snapshot_at, cursor_created_at, cursor_id FROM bulk_actions WHERE id = $1)
     SELECT id FROM jobs, b WHERE ${conditions.join(' AND ')} ORDER BY created_at, id LIMIT $3`,
    values,
  );
  return rows.map((row: { id: string }) => row.id);
}

/**
 * Moves the cursor past job `jobId` and counts it, if `owner` still runs the action and the cursor
 * is not past the job already. False otherwise: the caller must then undo what it did to the job
 * (it runs this in the job's own transaction), so no job is counted, or changed, twice.
 */
export async function advancePast(db: SqlClient, run: { id: string; owner: string }, jobId: string, result: 'changed' | 'skipped'): Promise<boolean> {
  const { rows } = await db.query(
    `UPDATE bulk_actions b
        SET cursor_created_at = j.created_at, cursor_id = j.id, updated_at = now(),
            changed = b.changed + CASE WHEN $4 = 'changed' THEN 1 ELSE 0 END,
            skipped = b.skipped + CASE WHEN $4 = 'skipped' THEN 1 ELSE 0 END
       FROM jobs j
      WHERE b.id = $1 AND j.id = $2 AND b.status = 'running' AND b.lease_owner = $3
        AND (b.cursor_id IS NULL OR (j.created_at, j.id) > (b.cursor_created_at, b.cursor_id))
      RETURNING b.id`,
    [run.id, jobId, run.owner, result],
  );
  return rows.length === 1;
}

/** Ends a run that has nothing left to take. */
export async function markCompleted(db: SqlClient, id: string, owner: string): Promise<void> {
  await db.query(
    `UPDATE bulk_actions SET status = 'completed', finished_at = now(), updated_at = now(), lease_owner = NULL, lease_until = NULL
      WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
    [id, owner],
  );
}

/** Stops a run by hand; the jobs it changed stay changed. Returns the row, or nothing if it was not running. */
export async function markCancelled(db: SqlClient, id: string): Promise<BulkActionRow | undefined> {
  const { rows } = await db.query(
    `UPDATE bulk_actions SET status = 'cancelled', finished_at = now(), updated_at = now(), lease_owner = NULL, lease_until = NULL
      WHERE id = $1 AND status = 'running' RETURNING *`,
    [id],
  );
  return rows[0];
}

/** Why a run stopped short; it is resumed, by this process or another, once its lease runs out. */
export async function recordInterruption(db: SqlClient, id: string, owner: string, error: string): Promise<void> {
  await db.query(
    `UPDATE bulk_actions SET last_error = $3, updated_at = now() WHERE id = $1 AND lease_owner = $2`,
    [id, owner, error],
  );
}
