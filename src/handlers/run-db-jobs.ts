// The run-db-jobs Lambda function: on its cron (rate(5 minutes) by default) it runs pg-boss's
// supervisor once (claims of functions that timed out mid-job go back to retry), then drains due
// DB-lane jobs batch by batch, and forwards mode=both outbox entries to SQS, until nothing is left or
// its work window closes. Invoked by a wake from the api function, it also keeps fetching for a
// moment (see ready-job-wake.ts). A cron run also prunes expired finished jobs first (at most every
// PRUNE_INTERVAL_SECONDS per container, one container at a time), for at most a third of its
// window: a large backlog of expired rows is worked off over several runs, never at the cost of due jobs.
import type { RunCounts } from '../jobs/job-service.ts';
import { isWake, LINGER_POLL_MS, WAKE_LINGER_MS } from './ready-job-wake.ts';
import { functionRuntime } from './runtime.ts';
import { workWindow, type DeadlineContext } from './work-window.ts';

export type RunDbJobsResult = RunCounts & { recovered: number; forwarded: number; batches: number; pruned: number };

const PRUNE_SHARE_OF_WINDOW = 1 / 3;

export async function handler(event: unknown, context: DeadlineContext): Promise<RunDbJobsResult> {
  const startedAt = Date.now();
  const { config, parts } = await functionRuntime();
  const window = workWindow(context, config.defaultTimeoutMs);
  const totals: RunDbJobsResult = { claimed: 0, completed: 0, retrying: 0, failed: 0, deadLettered: 0, skipped: 0, recovered: 0, forwarded: 0, batches: 0, pruned: 0 };
  const lingerUntil = isWake(event) ? startedAt + WAKE_LINGER_MS : 0;
  try {
    // A wake comes for a job just created; the supervisor's pass is the cron's business.
    if (!isWake(event)) {
      await parts.dbLane.supervise();
      if (config.retention.intervalSeconds > 0) {
        const budget = AbortSignal.any([window.stopTaking, AbortSignal.timeout(Math.floor(context.getRemainingTimeInMillis() * PRUNE_SHARE_OF_WINDOW))]);
        // A failed run is logged and counted by the pruner; due jobs still run.
        const pruned = await parts.pruner.runIfDue(config.retention.intervalSeconds * 1000, { signal: budget }).catch(() => undefined);
        totals.pruned = pruned ? Object.values(pruned.jobs).reduce((sum, n) => sum + n, 0) : 0;
      }
    }
    while (!window.stopTaking.aborted) {
      const counts = await parts.jobs.runDue(config.worker.batchSize, { abandon: window.abandon });
      for (const key of Object.keys(counts) as (keyof typeof counts)[]) totals[key] += counts[key];
      const forwarded = parts.sqsJobs ? await parts.sqsJobs.forwardOutbox(config.worker.batchSize) : 0;
      totals.forwarded += forwarded;
      totals.batches++;
      if (counts.claimed > 0 || forwarded > 0) continue;
      const lingerLeft = lingerUntil - Date.now();
      if (lingerLeft <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(LINGER_POLL_MS, lingerLeft)));
    }
    return totals;
  } finally {
    window.dispose();
  }
}
