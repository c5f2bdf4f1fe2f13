// Runs one batch the DB lane delivered: claims its attempts in one statement, runs them in
// parallel, and settles each outcome soon after it comes back rather than when the batch's slowest
// job ends. A batch holds up to 1,000 jobs (run-db-jobs) whose claims expire on their own timeouts;
// a fast job recorded only after a slow one would outlive its claim, be claimed and run again, and
// its first outcome would then arrive stale. Settling in small flushes keeps a batch of fast jobs
// at one statement while no job waits on another.
import type { Pool } from '../db/pool.ts';
import { inTransaction } from '../db/pool.ts';
import type { Outcome, SigningSecretsLookup } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { DbLane, LaneJob } from '../lanes/db-lane.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { claimAttempts, settleAttempts, type RunnableRow, type SettledStatus } from './attempt-repository.ts';
import { observeAttempt } from './attempt-log.ts';
import { alertInBackground, type DeadLetterNotifier } from './dead-letter-alerts.ts';
import { attemptSignal, type Drain } from './drain.ts';
import { allowedAttempts, attemptStatus, wasAbandoned } from './retry-policy.ts';

export interface RunCounts {
  claimed: number;
  completed: number;
  retrying: number;
  failed: number;
  deadLettered: number;
  skipped: number;
}

export interface LaneBatchDeps {
  pool: Pool;
  dbLane: DbLane;
  executors: ExecutorRegistry;
  signingSecrets: SigningSecretsLookup;
  notifier: DeadLetterNotifier;
  drain: Drain;
  log: Logger;
  metrics?: Metrics;
  /** Told of every outcome whose row no longer had that attempt running (a late writer). */
  onStaleSettle: (lane: 'db' | 'sqs' | 'scheduler', jobIds: string[]) => void;
}

// How long a finished attempt may wait for others to finish with it before it is settled. Far
// below the claim's margin (10 s past the job's timeout), and long enough for a batch of fast
// jobs to share one statement.
const FLUSH_AFTER_MS = 50;

interface Finished {
  job: LaneJob;
  row: RunnableRow;
  outcome: Outcome;
  status: SettledStatus;
  abandoned: boolean;
}

/**
 * `abandon` is the caller's own deadline (a Lambda function's): an attempt it cuts short is
 * abandoned, as at a stop, not failed.
 */
export async function runLaneBatch(deps: LaneBatchDeps, jobs: LaneJob[], abandon?: AbortSignal): Promise<RunCounts> {
  const counts: RunCounts = { claimed: jobs.length, completed: 0, retrying: 0, failed: 0, deadLettered: 0, skipped: 0 };
  if (jobs.length === 0) return counts;
  const byId = new Map(jobs.map((job) => [job.id, job]));
  const { runnable, exhausted } = await claimAttempts(deps.pool, 'db', jobs.map(({ id, attempt }) => ({ id, attempt })));
  const running = new Set(runnable.map((row) => row.id));
  // A delivery the claim did not take (finished, cancelled, stale) and a job the claim dead-lettered
  // (its last attempt was lost) are both finished in the lane: they must neither run nor hold a group.
  const letGo = jobs.filter((job) => !running.has(job.id));
  counts.skipped = letGo.length - exhausted.length;
  counts.deadLettered = exhausted.length;
  for (const row of exhausted) {
    deps.log.warn({ jobId: row.id, appId: row.app_id, lane: 'db', attempt: row.attempts, outcome: 'dead_lettered', reason: row.last_error }, `job ${row.id}: ${row.last_error}; dead-lettered`);
    alertInBackground(deps.notifier, { id: row.id, appId: row.app_id, executionType: row.execution_type, attempts: row.attempts, lastError: row.last_error }, deps.log);
  }

  const settler = new Settler(deps, runnable.length);
  if (letGo.length) await settleLaneOnly(deps, letGo);
  const secrets = runnable.length ? await deps.signingSecrets(runnable.map((row) => row.app_id)) : new Map<string, string[]>();
  await Promise.all(runnable.map(async (row) => {
    const job = byId.get(row.id)!;
    const signal = attemptSignal(job.signal, deps.drain.signal, abandon);
    let outcome: Outcome;
    try {
      outcome = await deps.executors.execute({
        jobId: row.id,
        appId: row.app_id,
        attempt: job.attempt,
        idempotencyKey: row.idempotency_key ?? undefined,
        lambdaProxyMessage: row.lambda_proxy_message,
        execution: row.execution_config,
        signingSecrets: secrets.get(row.app_id),
        signal: signal.signal,
        trace: row.traceparent === null ? undefined : { traceparent: row.traceparent, tracestate: row.tracestate },
      });
    } finally {
      signal.dispose();
    }
    const abandoned = wasAbandoned(outcome, deps.drain.signal, abandon);
    const status = attemptStatus(outcome, job.attempt, allowedAttempts(row.max_attempts, row.abandoned_attempts), abandoned);
    settler.add({ job, row, outcome, status, abandoned });
  }));
  const settled = await settler.done();
  for (const { status } of settled) {
    if (status === 'completed') counts.completed++;
    else if (status === 'retrying') counts.retrying++;
    else if (status === 'failed') counts.failed++;
    else counts.deadLettered++;
  }
  return counts;
}

/** Finishes deliveries that will not run, in the lane only; their rows are already what they should be. */
async function settleLaneOnly(deps: LaneBatchDeps, jobs: LaneJob[]): Promise<void> {
  const settlement = { completed: jobs, retry: [] };
  if (!deps.dbLane.needsSettling(settlement)) return;
  await inTransaction(deps.pool, (client) => deps.dbLane.settle(client, settlement));
  deps.dbLane.wake(jobs);
}

/**
 * Settles finished attempts in flushes: the first to finish waits FLUSH_AFTER_MS for company, the
 * last of the batch flushes at once. Flushes run one after another. A flush that fails (the database
 * is away) fails the batch once the rest has been tried: pg-boss then takes its claims back.
 */
class Settler {
  readonly #deps: LaneBatchDeps;
  #remaining: number;
  #pending: Finished[] = [];
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #error: unknown;
  readonly #settled: Finished[] = [];

  constructor(deps: LaneBatchDeps, expected: number) {
    this.#deps = deps;
    this.#remaining = expected;
  }

  add(finished: Finished): void {
    this.#pending.push(finished);
    this.#remaining--;
    if (this.#remaining === 0) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), FLUSH_AFTER_MS);
  }

  async done(): Promise<Finished[]> {
    this.#flush();
    await this.#chain;
    if (this.#error !== undefined) throw this.#error;
    return this.#settled;
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    this.#chain = this.#chain.then(() => this.#settle(batch)).catch((error) => {
      this.#error ??= error;
    });
  }

  async #settle(batch: Finished[]): Promise<void> {
    const deps = this.#deps;
    const settlement = {
      completed: batch.filter((f) => f.status !== 'retrying').map((f) => f.job),
      retry: batch.filter((f) => f.status === 'retrying' && !f.abandoned).map((f) => f.job),
      abandoned: batch.filter((f) => f.abandoned).map((f) => f.job),
    };
    const record = (client: Parameters<typeof settleAttempts>[0], nextRetry: Map<string, Date>) => settleAttempts(client, batch.map(({ job, row, outcome, status, abandoned }) => ({
      id: row.id,
      attempt: job.attempt,
      lane: 'db' as const,
      status,
      abandoned,
      lastError: outcome.kind === 'ok' ? null : outcome.reason,
      lastResponse: outcome.response ?? null,
      nextRetryAt: nextRetry.get(row.id) ?? null,
    })));
    const settled = deps.dbLane.needsSettling(settlement)
      ? await inTransaction(deps.pool, async (client) => record(client, await deps.dbLane.settle(client, settlement)))
      // Only the jobs table to write: pg-boss's worker completes the lane jobs after the batch returns.
      : await record(deps.pool, new Map());
    deps.dbLane.wake(settlement.completed);
    const stale = batch.filter((f) => !settled.has(f.row.id));
    if (stale.length) deps.onStaleSettle('db', stale.map((f) => f.row.id));
    for (const finished of batch) {
      if (!settled.has(finished.row.id)) continue;
      this.#settled.push(finished);
      const { row, job, outcome, status } = finished;
      observeAttempt(deps, {
        jobId: row.id, appId: row.app_id, lane: 'db', type: row.execution_type, attempt: job.attempt, maxAttempts: row.max_attempts, status, outcome,
        startedAt: row.started_at ?? undefined, dueAt: row.due_at,
      });
      if (status === 'dead_lettered') {
        alertInBackground(deps.notifier, { id: row.id, appId: row.app_id, executionType: row.execution_type, attempts: job.attempt, lastError: outcome.kind === 'ok' ? null : outcome.reason }, deps.log);
      }
    }
  }
}
