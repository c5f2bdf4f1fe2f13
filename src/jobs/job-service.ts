// JobService: what a job means. It validates and stores new jobs, hands them to a lane, runs what a
// lane delivers through the executors, and records every state change in the jobs table.
import type { Config } from '../config/config.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import { noSigningSecrets, type Outcome, type SigningSecretsLookup } from '../executors/executor.ts';
import type { SqlClient } from '../db/sql-client.ts';
import type { DbLane, LaneJob } from '../lanes/db-lane.ts';
import { alertInBackground, silentNotifier, type DeadLetterNotifier } from './dead-letter-alerts.ts';
import { ValidationError } from '../model/errors.ts';
import { assertExecutable, prepareDbJob } from './job-preparation.ts';
import * as repo from './job-repository.ts';
import { CreateJobRequest, type Execution } from '../model/message-schema.ts';
import type { JobScheduler, SqsIntake } from './ports.ts';
import { attemptStatus, resolveRetryPolicy } from './retry-policy.ts';
import { assertTargetsAllowed } from './target-check.ts';
import { parseOrThrow } from './validation.ts';

export interface CreatedJob {
  id: string;
  status: repo.JobStatus;
  /** Set for a schedule job that EventBridge Scheduler will deliver. */
  scheduleArn?: string | null;
  /** False when an earlier job with the same idempotency key was returned instead. */
  created: boolean;
}

export interface RunCounts {
  claimed: number;
  completed: number;
  retrying: number;
  failed: number;
  deadLettered: number;
  skipped: number;
}

// How long past its timeout a running attempt may go unsettled before its worker counts as lost.
const LOST_ATTEMPT_GRACE_SECONDS = 15;

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
  log?: (message: string) => void;
}

export class JobService {
  readonly #config: Config;
  readonly #pool: Pool;
  readonly #dbLane: DbLane;
  readonly #executors: ExecutorRegistry;
  readonly #sqsJobs: SqsIntake | undefined;
  readonly #scheduler: JobScheduler | undefined;
  readonly #notifier: DeadLetterNotifier;
  readonly #log: (message: string) => void;
  readonly #signingSecrets: SigningSecretsLookup;

  constructor(deps: JobServiceDeps) {
    this.#scheduler = deps.scheduler;
    this.#notifier = deps.notifier ?? silentNotifier;
    this.#signingSecrets = deps.signingSecrets ?? noSigningSecrets;
    this.#config = deps.config;
    this.#pool = deps.pool;
    this.#dbLane = deps.dbLane;
    this.#executors = deps.executors;
    this.#sqsJobs = deps.sqsJobs;
    this.#log = deps.log ?? ((message) => console.log(message));
  }

  /** Validates, stores and enqueues one job. Nothing is stored or sent when the input is refused. */
  async create(input: unknown): Promise<CreatedJob> {
    const request = parseOrThrow(CreateJobRequest, input);
    this.#assertRunnable(request.mode, request.message.execution);
    await assertTargetsAllowed([{ execution: request.message.execution }], { allowPrivate: this.#config.allowPrivateTargets });
    if (request.mode !== 'db') return this.#sqsJobs!.create(request, resolveRetryPolicy(this.#config.retry, request.retry));
    const { row, lane } = prepareDbJob(this.#config, request);
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
   * Runs one batch the DB lane delivered: marks the attempts running, executes them in parallel,
   * then records every outcome in the jobs table. Attempts that retry are failed in the lane in the
   * same transaction, so a retry is never recorded without its backoff; finished lane jobs are
   * completed in that transaction too, or by the lane's worker right after (DbLane.work). A crash
   * before the record commits leaves the claims to expire and run again; a crash after it leaves
   * finished rows whose lane jobs, claimed again, are let go without running.
   */
  async runLaneBatch(jobs: LaneJob[]): Promise<RunCounts> {
    const counts: RunCounts = { claimed: jobs.length, completed: 0, retrying: 0, failed: 0, deadLettered: 0, skipped: 0 };
    if (jobs.length === 0) return counts;
    const byId = new Map(jobs.map((job) => [job.id, job]));
    const rows = await repo.markRunning(this.#pool, jobs.map(({ id, attempt }) => ({ id, attempt })));
    const runnable = new Set(rows.map((row) => row.id));
    const released = jobs.filter((job) => !runnable.has(job.id));
    counts.skipped = released.length;
    const secrets = rows.length ? await this.#signingSecrets(rows.map((row) => row.app_id)) : new Map<string, string[]>();

    const results = await Promise.all(rows.map(async (row) => {
      const job = byId.get(row.id)!;
      const outcome: Outcome = job.attempt > row.max_attempts
        ? { kind: 'fail', reason: `the worker running attempt ${row.max_attempts} of ${row.max_attempts} was lost` }
        : await this.#executors.execute({
          jobId: row.id,
          appId: row.app_id,
          attempt: job.attempt,
          idempotencyKey: row.idempotency_key ?? undefined,
          lambdaProxyMessage: row.lambda_proxy_message,
          execution: row.execution_config,
          signingSecrets: secrets.get(row.app_id),
          signal: job.signal,
        });
      return { job, row, outcome, status: attemptStatus(outcome, job.attempt, row.max_attempts) };
    }));

    const retry = results.filter((r) => r.status === 'retrying').map((r) => r.job);
    const finished = [...released, ...results.filter((r) => r.status !== 'retrying').map((r) => r.job)];
    const settlement = { completed: finished, retry };
    const record = (client: SqlClient, nextRetry: Map<string, Date>) => repo.recordAttemptResults(client, results.map(({ row, outcome, status }) => ({
      id: row.id,
      status,
      lastError: outcome.kind === 'ok' ? null : outcome.reason,
      lastResponse: outcome.response ?? null,
      nextRetryAt: nextRetry.get(row.id) ?? null,
    })));
    if (this.#dbLane.needsSettling(settlement)) {
      await inTransaction(this.#pool, async (client) => record(client, await this.#dbLane.settle(client, settlement)));
    } else {
      // Only the jobs table to write: pg-boss's worker completes the lane jobs after this returns.
      await record(this.#pool, new Map());
    }

    for (const { row, outcome, status, job } of results) {
      if (status === 'completed') counts.completed++;
      else if (status === 'retrying') counts.retrying++;
      else if (status === 'failed') counts.failed++;
      else counts.deadLettered++;
      if (outcome.kind !== 'ok') this.#log(`job ${row.id} attempt ${job.attempt}/${row.max_attempts}: ${status} (${outcome.reason})`);
      if (status === 'dead_lettered') {
        const attempts = Math.min(job.attempt, row.max_attempts);
        alertInBackground(this.#notifier, { id: row.id, appId: row.app_id, executionType: row.execution_type, attempts, lastError: outcome.kind === 'ok' ? null : outcome.reason }, this.#log);
      }
    }
    return counts;
  }

  /**
   * The cron entry point: claims up to `limit` due DB-lane jobs and runs them before answering.
   * `abandon` cuts the attempts short (a Lambda function near its deadline): they are recorded as
   * retrying, as at a shutdown.
   */
  async runDue(limit: number, { abandon }: { abandon?: AbortSignal } = {}): Promise<RunCounts & { recovered: number }> {
    const recovered = await this.recoverLostAttempts();
    const counts = await this.runLaneBatch(await this.#dbLane.fetchDue(limit, abandon));
    return { ...counts, recovered };
  }

  /**
   * Finds attempts whose worker died (kill -9, a lost container) and runs them again now, the way
   * an SQS message becomes visible again after its timeout, instead of after a backoff step.
   */
  async recoverLostAttempts(): Promise<number> {
    const lost = await repo.findLostAttempts(this.#pool, this.#config.defaultTimeoutMs, LOST_ATTEMPT_GRACE_SECONDS);
    if (lost.length === 0) return 0;
    const moved = await this.#dbLane.runNow(lost.map((job) => ({ id: job.id, groupId: job.message_group_id })));
    if (moved.length) {
      await repo.markLostAttempts(this.#pool, moved);
      this.#log(`recovered ${moved.length} attempt(s) whose worker was lost`);
    }
    return moved.length;
  }

  async healthy(): Promise<void> {
    await repo.ping(this.#pool);
  }
}
