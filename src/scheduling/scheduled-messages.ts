// Scheduled jobs: when a schedule job is due, and what the scheduled-message callback does when
// EventBridge Scheduler delivers one. The callback runs the target through the same executors as
// the lanes, records the outcome, and hands a failure worth retrying to the DB lane, so the job
// then retries like any other.
import { z } from 'zod';
import { inTransaction, type Pool } from '../db/pool.ts';
import type { Outcome, SigningSecretsLookup } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import { claimAttempts, settleAttempts } from '../jobs/attempt-repository.ts';
import { observeAttempt } from '../jobs/attempt-log.ts';
import { alertInBackground, type DeadLetterNotifier } from '../jobs/dead-letter-alerts.ts';
import type { Drain } from '../jobs/drain.ts';
import { backoffAfter, carriedFrom, continueInDbLane, expireInSecondsFor } from '../jobs/job-preparation.ts';
import * as repo from '../jobs/job-repository.ts';
import type { JobScheduler } from '../jobs/ports.ts';
import { allowedAttempts, attemptStatus, wasAbandoned } from '../jobs/retry-policy.ts';
import { parseOrThrow } from '../jobs/validation.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import { ServiceUnavailableError } from '../model/errors.ts';
import { TargetExecution } from '../model/message-schema.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';

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
  drain: Drain;
  log: Logger;
  /** Told when the callback's outcome matched no running attempt (it was counted lost meanwhile). */
  onStaleSettle: (lane: 'scheduler', jobIds: string[]) => void;
  metrics?: Metrics;
}

/** The EventBridge Scheduler callback, for the HTTP route and the Lambda handler alike. */
export class ScheduledMessages {
  readonly #deps: ScheduledMessageDeps;

  constructor(deps: ScheduledMessageDeps) {
    this.#deps = deps;
  }

  /** Runs a scheduled job once, however often it is delivered. Counted in the drain, so a stop waits for it. */
  process(input: unknown): Promise<ScheduledMessageResult> {
    // EventBridge delivers again on an error: a stopping service leaves the delivery to the next.
    if (this.#deps.drain.stopping) return Promise.reject(new ServiceUnavailableError('the service is stopping; deliver again'));
    return this.#deps.drain.track(processScheduledMessage(this.#deps, input));
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

  const attempt = row.attempts;
  const outcome: Outcome = await deps.executors.execute({
    jobId: row.id,
    appId: row.app_id,
    attempt,
    idempotencyKey: row.idempotency_key ?? undefined,
    lambdaProxyMessage: row.lambda_proxy_message,
    execution: row.execution_config,
    signingSecrets: (await deps.signingSecrets([row.app_id])).get(row.app_id),
    signal: deps.drain.signal,
    trace: row.traceparent === null ? undefined : { traceparent: row.traceparent, tracestate: row.tracestate },
  });
  const abandoned = wasAbandoned(outcome, deps.drain.signal);
  const status = attemptStatus(outcome, attempt, allowedAttempts(row.max_attempts, row.abandoned_attempts), abandoned);

  // The record and the safety net change together, and only while this attempt is still the one
  // running: a callback counted lost (the net has run, or is running, in its place) changes nothing.
  const recorded = await inTransaction(deps.pool, async (client) => {
    const nextRetryAt = status !== 'retrying' ? null : abandoned ? new Date() : backoffAfter(carriedFrom(row), attempt);
    const settled = await settleAttempts(client, [{
      id: row.id,
      attempt,
      lane: 'scheduler',
      status,
      abandoned,
      lastError: outcome.kind === 'ok' ? null : outcome.reason,
      lastResponse: outcome.response ?? null,
      nextRetryAt,
    }]);
    if (!settled.has(row.id)) return false;
    if (status === 'retrying') {
      const after = { ...carriedFrom(row), abandonedAttempts: row.abandoned_attempts + (abandoned ? 1 : 0) };
      await deps.dbLane.requeue(client, continueInDbLane(after, attempt, nextRetryAt!, deps.defaultTimeoutMs));
    } else {
      await deps.dbLane.discard(client, { id: row.id, groupId: row.message_group_id });
    }
    return true;
  });
  await removeSchedule(deps, jobId);
  if (!recorded) {
    deps.onStaleSettle('scheduler', [row.id]);
    const current = await repo.findJob(deps.pool, jobId);
    return { jobId, ran: true, status: current?.status ?? 'not_found' };
  }
  observeAttempt(deps, {
    jobId: row.id, appId: row.app_id, lane: 'scheduler', type: row.execution_type, attempt, maxAttempts: row.max_attempts, status, outcome,
    startedAt: row.started_at ?? undefined, dueAt: row.run_at,
  });
  if (status === 'dead_lettered') {
    alertInBackground(deps.notifier, { id: row.id, appId: row.app_id, executionType: row.execution_type, attempts: attempt, lastError: outcome.kind === 'ok' ? null : outcome.reason }, deps.log);
  }
  return { jobId, ran: true, status };
}

/**
 * Claims the job (its first attempt, from the scheduler, which then hands the next delivery to the
 * DB lane) and, in the same transaction, gives the DB lane a job that starts once this attempt's
 * time is up: should the process die before it records an outcome, the lane runs the job in its
 * place (sooner, when the lost-attempt sweep finds it), as for a lost lane worker. Recording the
 * outcome replaces or removes it.
 */
export function claimWithSafetyNet(deps: Pick<ScheduledMessageDeps, 'pool' | 'dbLane' | 'defaultTimeoutMs'>, jobId: string): Promise<repo.JobRow | undefined> {
  return inTransaction(deps.pool, async (client) => {
    const { runnable } = await claimAttempts(client, 'scheduler', [{ id: jobId, attempt: 1 }], 'db');
    if (runnable.length === 0) return undefined;
    const row = (await repo.findJob(client, jobId))!;
    const lostAfter = expireInSecondsFor(row.execution_config, deps.defaultTimeoutMs) + CALLBACK_LOST_AFTER_SECONDS;
    await deps.dbLane.send(client, continueInDbLane(carriedFrom(row), row.attempts, new Date(Date.now() + lostAfter * 1000), deps.defaultTimeoutMs));
    return row;
  });
}

/** The outcome is already recorded: a schedule that cannot be deleted now only costs a no-op delivery. */
async function removeSchedule(deps: ScheduledMessageDeps, jobId: string): Promise<void> {
  await deps.scheduler.remove(jobId).catch((error) => deps.log.warn({ jobId, reason: (error as Error).message }, `schedule of job ${jobId} not deleted: ${(error as Error).message}`));
}
