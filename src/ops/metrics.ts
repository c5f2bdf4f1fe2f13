// Prometheus metrics: one registry per running service (tests start several in one process), built
// in src/service.ts and handed to the parts that count. Counters and histograms are incremented
// where things happen; the queue gauges are read from SQL when scraped, through a short cache, so
// a scrape costs at most one query however often Prometheus (or several of them) asks.
//
// Labels are kept to what an alert needs: lane, execution type and app. Histograms leave the app
// out, since every bucket is a series of its own.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type Lane = 'db' | 'sqs' | 'scheduler';

/** What a settled attempt made of its job (see src/jobs/attempt-log.ts). */
export type AttemptStatus = 'completed' | 'retrying' | 'failed' | 'dead_lettered';

export interface SettledAttempt {
  lane: Lane;
  type: string;
  appId: string;
  status: AttemptStatus;
  /** How long the attempt ran, when known. */
  durationSeconds?: number;
  /** The attempt's start minus the time it was due (run_at, next_retry_at or created_at), when known. */
  queueWaitSeconds?: number;
}

/** One lane and app's waiting work, as src/admin/job-stats-repository.ts reads it. */
export interface QueueStats {
  lane: string;
  appId: string;
  /** Due and not started. */
  ready: number;
  /** Waiting for a time still ahead (runAt, a backoff, a schedule). */
  delayed: number;
  running: number;
  /** Seconds since the oldest ready job became due; 0 when none is ready. */
  oldestReadySeconds: number;
}

/** The pg pool's counters (pg.Pool has them). */
export interface PoolCounts {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const QUEUE_WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600, 21_600, 86_400];
// How long one reading of the queue gauges serves scrapes: Prometheus scrapes every 15-60 s, so
// this only merges scrapes that arrive together (several Prometheus servers, a person's refresh).
const QUEUE_STATS_CACHE_MS = 5_000;

const COUNTED: Record<AttemptStatus, 'completed' | 'retried' | 'failed' | 'deadLettered'> = {
  completed: 'completed', retrying: 'retried', failed: 'failed', dead_lettered: 'deadLettered',
};

export class Metrics {
  readonly registry = new Registry();
  readonly #created: Counter<'lane' | 'type' | 'app'>;
  readonly #settled: Record<'completed' | 'retried' | 'failed' | 'deadLettered', Counter<'lane' | 'type' | 'app'>>;
  readonly #duration: Histogram<'lane' | 'type'>;
  readonly #queueWait: Histogram<'lane' | 'type'>;
  readonly #sqsMessages: Counter<'result'>;
  readonly #sqsReceives: Counter<'outcome'>;
  readonly #repairs: Counter<'kind'>;
  readonly #settleMismatches: Counter<'lane'>;
  readonly #bulkChanged: Counter<'action' | 'result'>;
  readonly #queueStatsErrors: Counter;
  readonly #pruned: Counter<'kind'>;
  readonly #pruneRuns: Counter<'result'>;
  readonly #pruneBatch: Histogram;
  readonly #pruneLastRun: Gauge;

  constructor() {
    const registers = [this.registry];
    const jobCounter = (name: string, help: string) => new Counter({ name, help, labelNames: ['lane', 'type', 'app'] as const, registers });
    this.#created = jobCounter('switchyard_jobs_created_total', 'Jobs accepted by create, batch and the legacy callback-http route.');
    this.#settled = {
      completed: jobCounter('switchyard_jobs_completed_total', 'Attempts that completed their job.'),
      retried: jobCounter('switchyard_jobs_retried_total', 'Attempts that failed and left the job to retry.'),
      failed: jobCounter('switchyard_jobs_failed_total', 'Attempts that failed their job for good (a non-retryable answer).'),
      deadLettered: jobCounter('switchyard_jobs_dead_lettered_total', 'Attempts that used up their job\'s retries: the job is dead-lettered.'),
    };
    this.#duration = new Histogram({
      name: 'switchyard_attempt_duration_seconds',
      help: 'How long an attempt took: the target\'s answer time, or the attempt\'s run time when the target never answered.',
      labelNames: ['lane', 'type'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#queueWait = new Histogram({
      name: 'switchyard_queue_wait_seconds',
      help: 'An attempt\'s start minus the time it was due (runAt, its retry time, or its creation).',
      labelNames: ['lane', 'type'] as const,
      buckets: QUEUE_WAIT_BUCKETS,
      registers,
    });
    this.#sqsMessages = new Counter({ name: 'switchyard_sqs_messages_total', help: 'SQS messages handled, by what became of them.', labelNames: ['result'] as const, registers });
    this.#sqsReceives = new Counter({ name: 'switchyard_sqs_receives_total', help: 'SQS ReceiveMessage calls: with messages, empty, or failed.', labelNames: ['outcome'] as const, registers });
    this.#repairs = new Counter({ name: 'switchyard_reconciler_repairs_total', help: 'Rows the reconciler found broken and repaired, by kind.', labelNames: ['kind'] as const, registers });
    this.#settleMismatches = new Counter({
      name: 'switchyard_settle_mismatches_total',
      help: 'Settles that matched no running attempt (a late writer, fenced off), by lane.',
      labelNames: ['lane'] as const,
      registers,
    });
    this.#bulkChanged = new Counter({
      name: 'switchyard_bulk_action_jobs_total',
      help: 'Jobs a bulk action reached, by action and result (changed, or skipped because their state no longer allowed it).',
      labelNames: ['action', 'result'] as const,
      registers,
    });
    this.#queueStatsErrors = new Counter({ name: 'switchyard_queue_stats_errors_total', help: 'Scrapes whose queue reading failed (the gauges then keep their last values).', registers });
    this.#pruned = new Counter({
      name: 'switchyard_pruned_total',
      help: 'Rows the retention pruner deleted, by kind: jobs by status (completed, failed, dead_lettered, cancelled), lane_job, rejected_message, bulk_action, activity_minute.',
      labelNames: ['kind'] as const,
      registers,
    });
    this.#pruneRuns = new Counter({
      name: 'switchyard_prune_runs_total',
      help: 'Pruner runs in this process: done (nothing expired was left), stopped (stopped or out of time before the end), locked (another process was pruning), error.',
      labelNames: ['result'] as const,
      registers,
    });
    this.#pruneBatch = new Histogram({
      name: 'switchyard_prune_batch_duration_seconds',
      help: 'How long one pruning statement ran (and held its row locks).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#pruneLastRun = new Gauge({
      name: 'switchyard_prune_last_done_timestamp_seconds',
      help: 'When a pruner run in this process last reached the end of what had expired (Unix time); alert when it falls far behind.',
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** For the pruner: `count` rows of `kind` were deleted by a statement that ran `durationSeconds`. */
  pruned(counts: Record<string, number>, durationSeconds: number): void {
    for (const [kind, count] of Object.entries(counts)) if (count > 0) this.#pruned.inc({ kind }, count);
    this.#pruneBatch.observe(durationSeconds);
  }

  pruneRun(result: 'done' | 'stopped' | 'locked' | 'error'): void {
    this.#pruneRuns.inc({ result });
    if (result === 'done') this.#pruneLastRun.set(Date.now() / 1000);
  }

  jobCreated(job: { lane: Lane; type: string; appId: string }): void {
    this.#created.inc({ lane: job.lane, type: job.type, app: job.appId });
  }

  attemptSettled(attempt: SettledAttempt): void {
    this.#settled[COUNTED[attempt.status]].inc({ lane: attempt.lane, type: attempt.type, app: attempt.appId });
    const labels = { lane: attempt.lane, type: attempt.type };
    if (attempt.durationSeconds !== undefined) this.#duration.observe(labels, attempt.durationSeconds);
    if (attempt.queueWaitSeconds !== undefined) this.#queueWait.observe(labels, Math.max(0, attempt.queueWaitSeconds));
  }

  sqsMessageHandled(result: string): void {
    this.#sqsMessages.inc({ result });
  }

  sqsReceived(outcome: 'messages' | 'empty' | 'error'): void {
    this.#sqsReceives.inc({ outcome });
  }

  /** For the reconciler: `count` rows of one `kind` (e.g. "lane_entry_missing") were repaired. */
  reconcilerRepaired(kind: string, count = 1): void {
    if (count > 0) this.#repairs.inc({ kind }, count);
  }

  /** For the settle path: `count` settles in `lane` matched no running attempt. */
  settleMismatched(lane: Lane, count = 1): void {
    if (count > 0) this.#settleMismatches.inc({ lane }, count);
  }

  bulkActionReached(action: string, result: 'changed' | 'skipped', count = 1): void {
    if (count > 0) this.#bulkChanged.inc({ action, result }, count);
  }

  /** Reports the pool's connections at every scrape. */
  watchPool(pool: PoolCounts): void {
    const gauge = (name: string, help: string, read: () => number) => new Gauge({
      name, help, registers: [this.registry], collect() {
        this.set(read());
      },
    });
    gauge('switchyard_db_pool_connections', 'Connections the service\'s pg pool holds.', () => pool.totalCount);
    gauge('switchyard_db_pool_idle_connections', 'Pool connections not in use.', () => pool.idleCount);
    gauge('switchyard_db_pool_waiting_clients', 'Queries waiting for a pool connection (above 0 for long: the pool is too small).', () => pool.waitingCount);
  }

  /**
   * Reports queue depth, delayed and running jobs, and the age of the oldest ready job, per lane and
   * app. `read` runs at most once per QUEUE_STATS_CACHE_MS, and scrapes that arrive while it runs
   * share it.
   */
  watchQueues(read: () => Promise<QueueStats[]>, now: () => number = Date.now): void {
    let cached: { at: number; reading: Promise<QueueStats[] | undefined> } | undefined;
    const errors = this.#queueStatsErrors;
    const current = () => {
      if (cached === undefined || now() - cached.at >= QUEUE_STATS_CACHE_MS) {
        cached = { at: now(), reading: read().catch(() => { errors.inc(); return undefined; }) };
      }
      return cached.reading;
    };
    const labelNames = ['lane', 'app'] as const;
    const gauge = (name: string, help: string, value: (stats: QueueStats) => number) => new Gauge({
      name, help, labelNames, registers: [this.registry],
      async collect() {
        const stats = await current();
        if (stats === undefined) return;
        // A lane and app with nothing waiting any more drops out rather than showing its last value.
        this.reset();
        for (const row of stats) this.set({ lane: row.lane, app: row.appId }, value(row));
      },
    });
    gauge('switchyard_queue_depth', 'Jobs due and waiting to start.', (row) => row.ready);
    gauge('switchyard_queue_delayed', 'Jobs waiting for a time still ahead (runAt, a retry\'s backoff, a schedule).', (row) => row.delayed);
    gauge('switchyard_jobs_running', 'Jobs with an attempt in progress.', (row) => row.running);
    gauge('switchyard_queue_oldest_age_seconds', 'How long the oldest job due has been waiting to start.', (row) => row.oldestReadySeconds);
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The lane a new job enters: schedule jobs wait for the scheduler, mode sqs and both for SQS. */
export function laneOfNewJob(mode: string, type: string): Lane {
  if (type === 'schedule') return 'scheduler';
  return mode === 'db' ? 'db' : 'sqs';
}
