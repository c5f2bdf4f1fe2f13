// The jobs-table SQL of scheduled jobs, one function per statement (as in job-repository.ts).
import type { SqlClient } from '../db/sql-client.ts';
import type { JobRow } from '../jobs/job-repository.ts';

/**
 * Claims a scheduled job for the callback that delivers it. One statement decides: of two
 * deliveries of the same schedule (EventBridge delivers at least once), only the one that moves the
 * row out of `scheduled` gets it back and runs the job.
 */
export async function claimScheduledJob(db: SqlClient, id: string): Promise<JobRow | undefined> {
  const { rows } = await db.query(
    `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(), updated_at = now()
      WHERE id = $1 AND status = 'scheduled'
      RETURNING *`,
    [id],
  );
  return rows[0];
}
