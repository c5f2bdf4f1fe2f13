// JobService: what a job means. It validates and stores new jobs, hands them to a lane, runs what a
// lane delivers through the executors, and records every state change in the jobs table.
import type { Config } from '../config/config.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { noSigningSecrets, type SigningSecretsLookup } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import { QUEUES, type DbLane, type LaneJob } from '../lanes/db-lane.ts';
import { ValidationError } from '../model/errors.ts';
import { CreateJobRequest, type Execution } from '../model/message-schema.ts';
import type { Logger } from '../ops/log.ts';
import { recoverLostAttempts } from './attempt-repository.ts';
import { silentNotifier, type DeadLetterNotifier } from './dead-letter-alerts.ts';
import type { Drain } from './drain.ts';
import { runLaneBatch, type LaneBatchDeps, type RunCounts } from './lane-batch.ts';
import { Reconciler } from './reconciler.ts';
import { assertExecutable, prepareDbJob } from './job-preparation.ts';
import * as repo from './job-repository.ts';
import { laneOfNewJob, type Metrics } from '../ops/metrics.ts';
import type { TraceContext } from '../ops/trace.ts';
import type { JobScheduler, SqsIntake } from './ports.ts';
import { resolveRetryPolicy } from './retry-policy.ts';
import { assertTargetsAllowed } from './target-check.ts';
import { parseOrThrow } from './validation.ts';

export type { RunCounts } from './lane-batch.ts';

// How long past its timeout a running attempt may go unsettled before its worker counts as lost
// (for an attempt whose lane job pg-boss has not taken back: the scheduler callback's safety net).
const LOST_ATTEMPT_GRACE_SECONDS = 15;
// Lost attempts moved per sweep; the rest wait for the next one, oldest first.
const LOST_ATTEMPT_BATCH = 500;

export interface CreatedJob {
  id: string;
  status: repo.JobStatus;
  /** Set for a schedule job that EventBridge Scheduler will deliver. */
  scheduleArn?: string | null;
  /** False when an earlier job with the same idempotency key was returned instead. */
  created: boolean;
}

export interface JobServiceDeps {
  config: Config;
  pool: Pool;
  dbLane: DbLane;
  executors: ExecutorRegistry;
  /** The SQS side, present only when an SQS queue is configured. */
  sqsJobs?: SqsIntake;
  /** How schedule jobs are armed (chosen in service.ts); without one, schedule jobs are refused. */
  scheduler?: JobScheduler;
  /** Told about every dead-lettered job; silent when not given. */
  notifier?: DeadLetterNotifier;
  /** The signing secrets of each app whose jobs are about to run (see AppKeys.signingSecrets). */
  signingSecrets?: SigningSecretsLookup;
  /** The service's stop: what this service runs is tracked in it and abandoned through it. */
  drain: Drain;
  log: Logger;
  /** Counts creates and settled attempts; absent in tools and tests that need none. */
  metrics?: Metrics;
}

export class JobService {
  readonly #config: Config;
  readonly #pool: Pool;
  readonly #dbLane: DbLane;
  readonly #executors: ExecutorRegistry;
  readonly #sqsJobs: SqsIntake | undefined;
  readonly #scheduler: JobScheduler | undefined;
  readonly #log: Logger;
  readonly #drain: Drain;
  /** Checks that no job is stuck and repairs what is (see reconciler.ts). */
  readonly reconciler: Reconciler;
  readonly #batchDeps: LaneBatchDeps;
  #staleSettles = 0;
  readonly #metrics: Metrics | undefined;

  constructor(deps: JobServiceDeps) {
    this.#metrics = deps.metrics;
    this.#scheduler = deps.scheduler;
    this.#drain = deps.drain;
    this.#config = deps.config;
    this.#pool = deps.pool;
    this.#dbLane = deps.dbLane;
    this.#executors = deps.executors;
    this.#sqsJobs = deps.sqsJobs;
    this.#log = deps.log;
    this.reconciler = new Reconciler({
      pool: deps.pool,
      dbLane: deps.dbLane,
      scheduler: deps.scheduler,
      notifier: deps.notifier ?? silentNotifier,
      defaultTimeoutMs: deps.config.defaultTimeoutMs,
      log: deps.log,
      metrics: deps.metrics,
    });
    this.#batchDeps = {
      pool: deps.pool,
      dbLane: deps.dbLane,
      executors: deps.executors,
      signingSecrets: deps.signingSecrets ?? noSigningSecrets,
      notifier: deps.notifier ?? silentNotifier,
      drain: deps.drain,
      log: deps.log,
      metrics: deps.metrics,
      onStaleSettle: (lane, jobIds) => this.reportStaleSettle(lane, jobIds),
    };
  }

  /**
   * An outcome that matched no running attempt: a late writer (a batch that outlived its claim, a
   * callback counted lost). Its row had already moved on, so nothing was overwritten; it is still
   * worth knowing, since it means an attempt ran twice. Every lane reports here.
   */
  reportStaleSettle(lane: 'db' | 'sqs' | 'scheduler', jobIds: string[]): void {
    this.#staleSettles += jobIds.length;
    this.#metrics?.settleMismatched(lane, jobIds.length);
    this.#log.warn({ lane, jobIds }, `${jobIds.length} outcome(s) in the ${lane} lane matched no running attempt (a newer attempt or an action by hand got there first); nothing was overwritten`);
  }

  /** Validates, stores and enqueues one job. Nothing is stored or sent when the input is refused. */
  async create(input: unknown, trace?: TraceContext): Promise<CreatedJob> {
    const request = parseOrThrow(CreateJobRequest, input);
    const job = await this.#create(request, trace);
    const type = request.message.execution.type;
    if (job.created) this.#metrics?.jobCreated({ lane: laneOfNewJob(request.mode, type), type, appId: request.appId });
    return job;
  }

  async #create(request: CreateJobRequest, trace: TraceContext | undefined): Promise<CreatedJob> {
    this.#assertRunnable(request.mode, request.message.execution);
    await assertTargetsAllowed([{ execution: request.message.execution }], { allowPrivate: this.#config.allowPrivateTargets });
    if (request.mode !== 'db') return this.#sqsJobs!.create(request, resolveRetryPolicy(this.#config.retry, request.retry), trace);
    const { row, lane } = prepareDbJob(this.#config, request, { trace });
    const execution = request.message.execution;
    const earlierJob = async (): Promise<CreatedJob> => {
      const first = await repo.findJobByIdempotencyKey(this.#pool, row.appId, row.idempotencyKey!);
      return { id: first!.id, status: first!.status, created: false };
    };
    if (execution.type !== 'schedule') {
      // The hot path: the row and the lane job in one statement, so one round trip.
      if (!(await this.#dbLane.sendWith(this.#pool, lane, repo.insertJobStatement(row)))) return earlierJob();
      return { id: row.id, status: 'pending', created: true };
    }
    const created = await inTransaction(this.#pool, async (client) => {
      if (!(await repo.insertJob(client, row))) return undefined;
      // A remote schedule is created before the commit: should the commit then fail, its one
      // delivery finds no job and does nothing.
      const { scheduleArn } = await this.#scheduler!.arm(client, { jobId: row.id, at: row.runAt!, targetExecution: execution.targetExecution, lane });
      if (scheduleArn) await repo.setScheduleArn(client, row.id, scheduleArn);
      return { id: row.id, status: 'scheduled' as const, scheduleArn, created: true };
    });
    return created ?? earlierJob();
  }

  #assertRunnable(mode: string, execution: Execution): void {
    if (mode !== 'db' && this.#sqsJobs === undefined) {
      throw ValidationError.field('mode', `mode "${mode}" needs the SQS lane, which is not available here; use "db"`);
    }
    assertExecutable(this.#executors, execution);
    if (execution.type === 'schedule') {
      if (this.#scheduler === undefined) throw ValidationError.field('message.execution.type', 'schedule jobs are not available on this deployment');
      if (mode !== 'db') throw ValidationError.field('mode', 'schedule jobs run in the DB lane; use "db"');
      assertExecutable(this.#executors, execution.targetExecution, 'message.execution.targetExecution.type');
    }
  }

  /**
   * Runs one batch the DB lane delivered (see lane-batch.ts): claims, executes in parallel, and
   * settles each outcome fenced on its attempt. Counted in the drain, so a stop waits for it.
   */
  runLaneBatch(jobs: LaneJob[], abandon?: AbortSignal): Promise<RunCounts> {
    return this.#drain.track(runLaneBatch(this.#batchDeps, jobs, abandon));
  }

  /**
   * The cron entry point: claims up to `limit` due DB-lane jobs and runs them before answering.
   * `abandon` cuts the attempts short (a Lambda function near its deadline): they are recorded as
   * abandoned, as at a stop, and run again at once without using up an attempt.
   */
  async runDue(limit: number, { abandon }: { abandon?: AbortSignal } = {}): Promise<RunCounts & { recovered: number }> {
    if (this.#drain.stopping) return { claimed: 0, completed: 0, retrying: 0, failed: 0, deadLettered: 0, skipped: 0, recovered: 0 };
    // Where no process runs workers (a cron-only deploy), the cron calls are the reconciler's home too.
    await this.reconciler.runIfDue(this.#config.reconcileIntervalSeconds * 1000);
    const recovered = await this.recoverLostAttempts();
    const counts = await this.runLaneBatch(await this.#dbLane.fetchDue(limit), abandon);
    return { ...counts, recovered };
  }

  /**
   * Finds attempts whose worker died (kill -9, a lost container, a callback that never answered)
   * and runs them again now, the way an SQS message becomes visible again after its timeout,
   * instead of after a backoff step. Safe to run in every process at once: each move is fenced.
   */
  async recoverLostAttempts(): Promise<number> {
    const lost = await recoverLostAttempts(this.#pool, QUEUES, this.#config.defaultTimeoutMs, LOST_ATTEMPT_GRACE_SECONDS, LOST_ATTEMPT_BATCH);
    if (lost.length) this.#log.warn({ jobIds: lost.map((job) => job.id) }, `recovered ${lost.length} attempt(s) whose worker was lost`);
    return lost.length;
  }

  /** Outcomes that arrived for an attempt no longer running: logged with their ids, and counted. */
  get staleSettles(): number {
    return this.#staleSettles;
  }

  async healthy(): Promise<void> {
    await repo.ping(this.#pool);
  }
}
