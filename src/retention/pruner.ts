// Retention: finished jobs are deleted once they have been kept as long as the config says
// (RETAIN_COMPLETED for completed jobs, RETAIN_FAILED for failed, dead-lettered and cancelled ones),
// with their attempt history and their settled pg-boss entries; a job that has not finished is never
// deleted. Without it `jobs` grows by every job ever run, and with it every index, list and count.
//
// Deleting rather than dropping time partitions: a partition of `jobs` by creation time can only be
// dropped once every job in it has finished AND expired, but one job delayed for a year, or retrying
// for a day, holds its whole partition; and the two retentions would need partitions per outcome.
// Batched deletes over jobs_finished_idx cost the hot path little (docs/performance.md,
// "Retention") and leave the schema as it is, with one primary key for the lanes to share.
//
// One process at a time across every instance: a session advisory lock held on the pruner's own
// connection for the whole run (if the process dies, the connection and the lock go with it). Each
// batch is one short statement that commits on its own, so no lock outlives PRUNE_BATCH_SIZE rows;
// after each batch the pruner waits as long as the batch took, so it uses at most half of one
// connection and the workers' statements always find room between two of its batches.
import type { RetentionSettings } from '../config/config.ts';
import type { Pool, PoolClient } from '../db/pool.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { FINISHED_STATUSES, pruneActivityMinutes, pruneFinishedBulkActions, pruneFinishedJobs, pruneRejectedMessages, type FinishedStatus } from './retention-repository.ts';

// hashtext('switchyard pruner'), fixed so every version of the service takes the same lock.
const LOCK_KEY = 0x5e1ec7ee;
// The pause after a batch is at least this, so even very fast batches leave the pool to others.
const MIN_PAUSE_MS = 5;
// How often a long run says how far it got.
const PROGRESS_LOG_MS = 10_000;

export interface PruneResult {
  /** False when another process held the lock, so this one deleted nothing. */
  ran: boolean;
  /** True when the run reached the end of what had expired; false when it was stopped first. */
  done: boolean;
  /** Jobs deleted, by the status they had. */
  jobs: Record<FinishedStatus, number>;
  /** Settled pg-boss entries deleted with their jobs. */
  laneJobs: number;
  rejectedMessages: number;
  bulkActions: number;
  /** Rows of job_activity, the per-minute counts (one per minute and writing session). */
  activityMinutes: number;
  batches: number;
  durationMs: number;
}

export interface PrunerDeps {
  pool: Pool;
  retention: RetentionSettings;
  log: Logger;
  metrics?: Metrics;
}

const noJobs = (): Record<FinishedStatus, number> => ({ completed: 0, failed: 0, dead_lettered: 0, cancelled: 0 });

const sleep = (ms: number, signal: AbortSignal | undefined) => new Promise<void>((resolve) => {
  const timer = setTimeout(done, ms);
  function done() {
    clearTimeout(timer);
    signal?.removeEventListener('abort', done);
    resolve();
  }
  signal?.addEventListener('abort', done, { once: true });
});

export class Pruner {
  readonly #deps: PrunerDeps;
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<PruneResult> | undefined;
  #lastRun = 0;

  constructor(deps: PrunerDeps) {
    this.#deps = deps;
  }

  /** Runs now, then every `intervalMs`, one run at a time; a run in progress is not started again. */
  start(intervalMs: number): void {
    const tick = () => void this.run().catch(() => {});
    tick();
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and ends a run in progress after its current batch. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopping.abort();
    await this.#running?.catch(() => {});
  }

  /** Runs unless this process ran within `minIntervalMs` (a cron calls it on every run). */
  async runIfDue(minIntervalMs: number, options: { signal?: AbortSignal } = {}): Promise<PruneResult | undefined> {
    if (Date.now() - this.#lastRun < minIntervalMs) return undefined;
    return this.run(options);
  }

  /** One run: until nothing that expired is left, or `signal` (or stop) ends it after a batch. */
  run({ signal }: { signal?: AbortSignal } = {}): Promise<PruneResult> {
    this.#running ??= this.#run(signal ? AbortSignal.any([signal, this.#stopping.signal]) : this.#stopping.signal)
      .then((result) => {
        this.#deps.metrics?.pruneRun(!result.ran ? 'locked' : result.done ? 'done' : 'stopped');
        return result;
      }, (error) => {
        this.#deps.metrics?.pruneRun('error');
        this.#deps.log.error({ reason: (error as Error).message }, `pruner: ${(error as Error).message}`);
        throw error;
      })
      .finally(() => {
        this.#running = undefined;
        this.#lastRun = Date.now();
      });
    return this.#running;
  }

  async #run(signal: AbortSignal): Promise<PruneResult> {
    const startedAt = Date.now();
    const result: PruneResult = { ran: false, done: false, jobs: noJobs(), laneJobs: 0, rejectedMessages: 0, bulkActions: 0, activityMinutes: 0, batches: 0, durationMs: 0 };
    const { completedSeconds, failedSeconds } = this.#deps.retention;
    if (signal.aborted || (completedSeconds === undefined && failedSeconds === undefined)) return result;
    const client = await this.#deps.pool.connect();
    let broken: Error | undefined;
    try {
      const { rows: [lock] } = await client.query('SELECT pg_try_advisory_lock($1) AS held', [LOCK_KEY]);
      if (!lock.held) {
        this.#deps.log.debug('pruner: another process is pruning');
        return result;
      }
      result.ran = true;
      try {
        result.done = await this.#prune(client, result, signal);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
      }
    } catch (error) {
      // A connection that failed mid-run is closed rather than pooled: the lock goes with it.
      broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
      result.durationMs = Date.now() - startedAt;
    }
    const deleted = Object.values(result.jobs).reduce((sum, n) => sum + n, 0);
    if (deleted + result.rejectedMessages + result.bulkActions + result.activityMinutes > 0) {
      this.#deps.log.info({ ...this.#progress(result), done: result.done, durationMs: result.durationMs }, `pruner: deleted ${deleted} expired job(s) in ${result.batches} batch(es), ${result.durationMs} ms${result.done ? '' : ' (stopped before the end)'}`);
    }
    return result;
  }

  /** Deletes batch after batch, oldest first; true when nothing that expired is left. */
  async #prune(client: PoolClient, result: PruneResult, signal: AbortSignal): Promise<boolean> {
    const { completedSeconds, failedSeconds, batchSize } = this.#deps.retention;
    const kinds: { kind: string; olderThan: number | undefined; batch: () => Promise<Record<string, number>> }[] = [
      ...FINISHED_STATUSES.map((status) => {
        const olderThan = status === 'completed' ? completedSeconds : failedSeconds;
        return {
          kind: status,
          olderThan,
          batch: async () => {
            const pruned = await pruneFinishedJobs(client, status, olderThan!, batchSize);
            result.jobs[status] += pruned.jobs;
            result.laneJobs += pruned.laneJobs;
            return { [status]: pruned.jobs, lane_job: pruned.laneJobs };
          },
        };
      }),
      // Each counted in the result field of the same name; records of failures are kept as long as
      // failed jobs, the per-minute counts as long as the completed jobs they counted.
      ...([
        ['rejected_message', 'rejectedMessages', pruneRejectedMessages, failedSeconds],
        ['bulk_action', 'bulkActions', pruneFinishedBulkActions, failedSeconds],
        ['activity_minute', 'activityMinutes', pruneActivityMinutes, completedSeconds],
      ] as const).map(([kind, field, prune, olderThan]) => ({
        kind,
        olderThan,
        batch: async () => {
          const deleted = await prune(client, olderThan!, batchSize);
          result[field] += deleted;
          return { [kind]: deleted };
        },
      })),
    ];
    let lastProgress = Date.now();
    for (const { kind, olderThan, batch } of kinds) {
      if (olderThan === undefined) continue;
      for (;;) {
        if (signal.aborted) return false;
        const batchStarted = performance.now();
        const counts = await batch();
        const tookMs = performance.now() - batchStarted;
        result.batches++;
        const deleted = counts[kind]!;
        this.#deps.metrics?.pruned(counts, tookMs / 1000);
        if (Date.now() - lastProgress >= PROGRESS_LOG_MS) {
          lastProgress = Date.now();
          this.#deps.log.info(this.#progress(result), `pruner: ${result.batches} batch(es) so far`);
        }
        if (deleted < batchSize) break;
        await sleep(Math.max(MIN_PAUSE_MS, tookMs), signal);
      }
    }
    return true;
  }

  #progress(result: PruneResult) {
    return { jobs: result.jobs, laneJobs: result.laneJobs, rejectedMessages: result.rejectedMessages, bulkActions: result.bulkActions, activityMinutes: result.activityMinutes, batches: result.batches };
  }
}
