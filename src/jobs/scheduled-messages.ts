// Scheduled jobs: when a schedule job is due, and what the scheduled-message callback does when
// EventBridge Scheduler delivers one. The callback runs the target through the same executors as
// the lanes, records the outcome, and hands a failure worth retrying to the DB lane, so the job
// then retries like any other.
import { z } from 'zod';
import { inTransaction, type Pool } from '../db/pool.ts';
import type { Outcome } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import { alertInBackground, type DeadLetterNotifier } from './dead-letter-alerts.ts';
import { ValidationError } from './errors.ts';
import * as repo from './job-repository.ts';
import type { JobScheduler } from './job-scheduler.ts';
import { TargetExecution, type ScheduleExecution } from './message-schema.ts';
import { claimScheduledJob } from './schedule-repository.ts';
import { hasAttemptsLeft, nominalDelaySeconds } from './retry-policy.ts';
import { parseOrThrow } from './validation.ts';

/** How far ahead a job may be scheduled; the DB lane keeps waiting jobs for 400 days. */
export const MAX_SCHEDULE_AHEAD_SECONDS = 365 * 24 * 3600;

// Time past the target's own timeout for recording the outcome before the lane takes the claim back.
const EXPIRY_MARGIN_SECONDS = 10;

/**
 * The moment a schedule job runs, rounded up to a whole second (EventBridge's at() has no
 * fractions, and rounding down would run it early). Refuses a time that has passed or that lies
 * beyond what the scheduler keeps.
 */
export function resolveScheduleTime(execution: ScheduleExecution, now = Date.now()): Date {
  const field = execution.at !== undefined ? 'message.execution.at' : 'message.execution.delaySeconds';
  const wanted = execution.at !== undefined ? Date.parse(execution.at) : now + execution.delaySeconds! * 1000;
  const at = new Date(Math.ceil(wanted / 1000) * 1000);
  if (wanted <= now) throw ValidationError.field(field, 'must be in the future');
  if (at.getTime() - now > MAX_SCHEDULE_AHEAD_SECONDS * 1000) {
    throw ValidationError.field(field, `must be at most ${MAX_SCHEDULE_AHEAD_SECONDS / 86_400} days ahead`);
  }
  return at;
}

/** The timeout of the call a job makes, for the lane's claim expiry. */
export function expireInSecondsFor(execution: TargetExecution, defaultTimeoutMs: number): number {
  const timeoutMs = 'timeoutMs' in execution && execution.timeoutMs !== undefined ? execution.timeoutMs : defaultTimeoutMs;
  return Math.ceil(timeoutMs / 1000) + EXPIRY_MARGIN_SECONDS;
}

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
  log: (message: string) => void;
}

export async function processScheduledMessage(deps: ScheduledMessageDeps, input: unknown): Promise<ScheduledMessageResult> {
  const { jobId } = parseOrThrow(ScheduledMessage, input);
  const row = await claimScheduledJob(deps.pool, jobId);
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
    signal: new AbortController().signal,
  });
  const status = outcome.kind === 'ok' ? 'completed'
    : outcome.kind === 'fail' ? 'failed'
    : hasAttemptsLeft({ maxAttempts: row.max_attempts }, row.attempts) ? 'retrying' : 'dead_lettered';

  await inTransaction(deps.pool, async (client) => {
    let nextRetryAt: Date | null = null;
    if (status === 'retrying') {
      const policy = { maxAttempts: row.max_attempts, ...row.retry_policy };
      nextRetryAt = new Date(Date.now() + nominalDelaySeconds(policy, row.attempts) * 1000);
      await deps.dbLane.send(client, {
        id: row.id,
        groupId: row.message_group_id ?? undefined,
        startAfter: nextRetryAt,
        expireInSeconds: expireInSecondsFor((row.execution_config as ScheduleExecution).targetExecution, deps.defaultTimeoutMs),
        // The lane counts on from the callback's attempt and keeps the one spare that lets a worker
        // lost on the last attempt still hand the job back (see LaneRetry).
        retry: { retryLimit: row.max_attempts - row.attempts, retryDelay: policy.baseDelaySeconds, retryDelayMax: policy.maxDelaySeconds },
        attemptsBefore: row.attempts,
      });
    }
    await repo.recordAttemptResults(client, [{
      id: row.id,
      status,
      lastError: outcome.kind === 'ok' ? null : outcome.reason,
      lastResponse: outcome.response ?? null,
      nextRetryAt,
    }]);
  });

  if (outcome.kind !== 'ok') deps.log(`scheduled job ${row.id} attempt ${row.attempts}/${row.max_attempts}: ${status} (${outcome.reason})`);
  if (status === 'dead_lettered') {
    alertInBackground(deps.notifier, { id: row.id, appId: row.app_id, executionType: row.execution_type, attempts: row.attempts, lastError: outcome.kind === 'ok' ? null : outcome.reason }, deps.log);
  }
  await removeSchedule(deps, jobId);
  return { jobId, ran: true, status };
}

/** The outcome is already recorded: a schedule that cannot be deleted now only costs a no-op delivery. */
async function removeSchedule(deps: ScheduledMessageDeps, jobId: string): Promise<void> {
  await deps.scheduler.remove(jobId).catch((error) => deps.log(`schedule of job ${jobId} not deleted: ${(error as Error).message}`));
}
