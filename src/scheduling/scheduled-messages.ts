// Scheduled jobs: when a schedule job is due, and what the scheduled-message callback does when
// EventBridge Scheduler delivers one. The callback runs the target through the same executors as
// the lanes, records the outcome, and hands a failure worth retrying to the DB lane, so the job
// then retries like any other.
import { z } from 'zod';
import { inTransaction, type Pool } from '../db/pool.ts';
import type { Outcome, SigningSecretsLookup } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { DbLane, LaneSend } from '../lanes/db-lane.ts';
import { alertInBackground, type DeadLetterNotifier } from '../jobs/dead-letter-alerts.ts';
import { expireInSecondsFor } from '../jobs/job-preparation.ts';
import { observeAttempt } from '../jobs/attempt-log.ts';
import * as repo from '../jobs/job-repository.ts';
import type { JobScheduler } from '../jobs/ports.ts';
import { TargetExecution } from '../model/message-schema.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { claimScheduledJob } from './schedule-repository.ts';
import { hasAttemptsLeft, nominalDelaySeconds } from '../jobs/retry-policy.ts';
import { parseOrThrow } from '../jobs/validation.ts';

// How long past its timeout a callback may go without recording an outcome before the DB lane runs
// the job in its place.
const CALLBACK_LOST_AFTER_SECONDS = 30;

/** The Input an EventBridge schedule delivers (see job-scheduler.ts). */
export const ScheduledMessage = z.looseObject({ jobId: z.uuid(), targetExecution: TargetExecution.optional() });

export interface ScheduledMessageResult {
  jobId: string;
  /** False when this delivery found the job already taken (a repeated delivery) or gone. */
  ran: boolean;
  status: repo.JobStatus | 'not_found';
}

export interface ScheduledMessageDeps {
  pool: Pool;
  dbLane: DbLane;
  executors: ExecutorRegistry;
  scheduler: JobScheduler;
  notifier: DeadLetterNotifier;
  defaultTimeoutMs: number;
  signingSecrets: SigningSecretsLookup;
  log: Logger;
  metrics?: Metrics;
}

/** The EventBridge Scheduler callback, for the HTTP route and the Lambda handler alike. */
export class ScheduledMessages {
  readonly #deps: ScheduledMessageDeps;

  constructor(deps: ScheduledMessageDeps) {
    this.#deps = deps;
  }

  /** Runs a scheduled job once, however often it is delivered. */
  process(input: unknown): Promise<ScheduledMessageResult> {
    return processScheduledMessage(this.#deps, input);
  }
}

async function processScheduledMessage(deps: ScheduledMessageDeps, input: unknown): Promise<ScheduledMessageResult> {
  const { jobId } = parseOrThrow(ScheduledMessage, input);
  const row = await claimWithSafetyNet(deps, jobId);
  if (!row) {
    const current = await repo.findJob(deps.pool, jobId);
    await removeSchedule(deps, jobId);
    return { jobId, ran: false, status: current?.status ?? 'not_found' };
  }

  const outcome: Outcome = await deps.executors.execute({
    jobId: row.id,
    appId: row.app_id,
    attempt: row.attempts,
    idempotencyKey: row.idempotency_key ?? undefined,
    lambdaProxyMessage: row.lambda_proxy_message,
    execution: row.execution_config,
    signingSecrets: (await deps.signingSecrets([row.app_id])).get(row.app_id),
    signal: new AbortController().signal,
    trace: row.traceparent === null ? undefined : { traceparent: row.traceparent, tracestate: row.tracestate },
  });
  const status = outcome.kind === 'ok' ? 'completed'
    : outcome.kind === 'fail' ? 'failed'
    : hasAttemptsLeft({ maxAttempts: row.max_attempts }, row.attempts) ? 'retrying' : 'dead_lettered';

  await inTransaction(deps.pool, async (client) => {
    let nextRetryAt: Date | null = null;
    if (status === 'retrying') {
      const backoff = nominalDelaySeconds({ maxAttempts: row.max_attempts, ...row.retry_policy }, row.attempts);
      const retry = laneRetry(row, deps.defaultTimeoutMs, () => backoff);
      nextRetryAt = retry.startAfter!;
      await deps.dbLane.requeue(client, retry);
    } else {
      await deps.dbLane.discard(client, { id: row.id, groupId: row.message_group_id });
    }
    await repo.recordAttemptResults(client, [{
      id: row.id,
      attempt: row.attempts,
      lane: 'scheduler',
      status,
      lastError: outcome.kind === 'ok' ? null : outcome.reason,
      lastResponse: outcome.response ?? null,
      nextRetryAt,
    }]);
  });

  observeAttempt(deps, {
    jobId: row.id, appId: row.app_id, lane: 'scheduler', type: row.execution_type, attempt: row.attempts, maxAttempts: row.max_attempts, status, outcome,
    startedAt: row.started_at ?? undefined, dueAt: row.run_at,
  });
  if (status === 'dead_lettered') {
    alertInBackground(deps.notifier, { id: row.id, appId: row.app_id, executionType: row.execution_type, attempts: row.attempts, lastError: outcome.kind === 'ok' ? null : outcome.reason }, deps.log);
  }
  await removeSchedule(deps, jobId);
  return { jobId, ran: true, status };
}

/**
 * Claims the job and, in the same transaction, gives the DB lane a job that starts once this
 * attempt's time is up: should the process die before it records an outcome, the lane runs the job
 * in its place (sooner, when the lost-attempt sweep finds it), as for a lost lane worker. Recording
 * the outcome removes it.
 */
export function claimWithSafetyNet(deps: Pick<ScheduledMessageDeps, 'pool' | 'dbLane' | 'defaultTimeoutMs'>, jobId: string): Promise<repo.JobRow | undefined> {
  return inTransaction(deps.pool, async (client) => {
    const claimed = await claimScheduledJob(client, jobId);
    if (claimed) await deps.dbLane.send(client, laneRetry(claimed, deps.defaultTimeoutMs, (expire) => expire + CALLBACK_LOST_AFTER_SECONDS));
    return claimed;
  });
}

/**
 * The DB-lane job that carries a scheduled job on after the callback's attempt, starting after
 * `delaySeconds`. The lane counts on from the callback's attempt and keeps the one spare that lets
 * a worker lost on the last attempt still hand the job back (see LaneRetry).
 */
function laneRetry(row: repo.JobRow, defaultTimeoutMs: number, delaySeconds: (expireInSeconds: number) => number): LaneSend {
  const expireInSeconds = expireInSecondsFor(row.execution_config, defaultTimeoutMs);
  return {
    id: row.id,
    groupId: row.message_group_id ?? undefined,
    startAfter: new Date(Date.now() + delaySeconds(expireInSeconds) * 1000),
    expireInSeconds,
    retry: { retryLimit: row.max_attempts - row.attempts, retryDelay: row.retry_policy.baseDelaySeconds, retryDelayMax: row.retry_policy.maxDelaySeconds },
    attemptOffset: row.attempts,
  };
}

/** The outcome is already recorded: a schedule that cannot be deleted now only costs a no-op delivery. */
async function removeSchedule(deps: ScheduledMessageDeps, jobId: string): Promise<void> {
  await deps.scheduler.remove(jobId).catch((error) => deps.log.warn({ jobId, reason: (error as Error).message }, `schedule of job ${jobId} not deleted: ${(error as Error).message}`));
}
