// Turns a validated create request into what a DB-lane job is stored as: its jobs row and its lane
// entry. Single create, batch create and the legacy contract all prepare jobs here, so a job means
// the same whichever route made it.
import type { Config } from '../config/config.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { LaneSend } from '../lanes/db-lane.ts';
import { ValidationError } from '../model/errors.ts';
import { newJobId } from './job-id.ts';
import type { JobRow, NewJob } from './job-repository.ts';
import type { CreateJobRequest, Execution, ScheduleExecution } from '../model/message-schema.ts';
import { freshTraceContext, type TraceContext } from '../ops/trace.ts';
import { allowedAttempts, nominalDelaySeconds, resolveRetryPolicy, type RetryPolicy } from './retry-policy.ts';

// Time past the executor's own timeout for recording the outcome before pg-boss expires the claim.
const EXPIRY_MARGIN_SECONDS = 10;

export interface PreparedJob {
  row: NewJob;
  lane: LaneSend;
}

/** Refuses an execution type this deployment has no executor (or no AWS config) for. */
export function assertExecutable(executors: ExecutorRegistry, execution: Execution, field = 'message.execution.type'): void {
  if (!executors.supports(execution.type)) {
    throw ValidationError.field(field, `execution type "${execution.type}" is not available on this deployment`);
  }
  const refusal = executors.refusal(execution);
  if (refusal) throw ValidationError.field(field.replace(/type$/, refusal.field), refusal.message);
}

/** How far ahead a job may be scheduled; the DB lane keeps waiting jobs for 400 days. */
const MAX_SCHEDULE_AHEAD_SECONDS = 365 * 24 * 3600;

/** A runAt further ahead than the DB lane keeps waiting jobs would be deleted before it ran. */
function runAtOf(request: Pick<CreateJobRequest, 'runAt' | 'delaySeconds'>, now = Date.now()): Date | null {
  if (request.runAt !== undefined) {
    const runAt = new Date(request.runAt);
    if (runAt.getTime() - now > MAX_SCHEDULE_AHEAD_SECONDS * 1000) {
      throw ValidationError.field('runAt', `must be at most ${MAX_SCHEDULE_AHEAD_SECONDS / 86_400} days ahead`);
    }
    return runAt;
  }
  if (request.delaySeconds !== undefined) return new Date(now + request.delaySeconds * 1000);
  return null;
}

/**
 * How long the lane lets one attempt of a call run before it takes the claim back. What a schedule
 * job finally calls bounds its claim, not the schedule itself: every caller (create, a retry by
 * hand, the scheduler callback's hand-over) gets that from here.
 */
export function expireInSecondsFor(execution: Execution, defaultTimeoutMs: number): number {
  const called = execution.type === 'schedule' ? execution.targetExecution : execution;
  const timeoutMs = 'timeoutMs' in called && called.timeoutMs !== undefined ? called.timeoutMs : defaultTimeoutMs;
  return Math.ceil(timeoutMs / 1000) + EXPIRY_MARGIN_SECONDS;
}

/** The lane's expiry and retry settings for a job: pg-boss keeps one spare retry (see DbLane). */
export function laneSettings(config: Config, execution: Execution, policy: RetryPolicy): Pick<LaneSend, 'expireInSeconds' | 'retry'> {
  return {
    expireInSeconds: expireInSecondsFor(execution, config.defaultTimeoutMs),
    retry: { retryLimit: policy.maxAttempts, retryDelay: policy.baseDelaySeconds, retryDelayMax: policy.maxDelaySeconds },
  };
}

/** What the DB lane needs to know to carry on a job that already used attempts elsewhere. */
export interface CarriedJob {
  id: string;
  groupId: string | null;
  execution: Execution;
  maxAttempts: number;
  abandonedAttempts: number;
  retryPolicy: { baseDelaySeconds: number; maxDelaySeconds: number };
}

/**
 * The DB-lane job that carries a job on after `attemptsUsed` attempts were made elsewhere (the SQS
 * lane, the scheduler callback) or the last of them was abandoned: the one builder for every
 * hand-over, so they all retry on one timing. The lane counts on from there (attemptOffset), with
 * the attempts that are left plus the spare every DB-lane job has; its first run starts at
 * `startAfter` (the caller's backoff, or now). pg-boss's own backoff restarts at retryDelay, so
 * retryDelay is the wait that follows the next attempt, which keeps the doubling going.
 */
export function continueInDbLane(job: CarriedJob, attemptsUsed: number, startAfter: Date | undefined, defaultTimeoutMs: number): LaneSend {
  const policy = { maxAttempts: job.maxAttempts, ...job.retryPolicy };
  return {
    id: job.id,
    groupId: job.groupId ?? undefined,
    startAfter,
    expireInSeconds: expireInSecondsFor(job.execution, defaultTimeoutMs),
    attemptOffset: attemptsUsed,
    retry: {
      retryLimit: allowedAttempts(job.maxAttempts, job.abandonedAttempts) - attemptsUsed,
      retryDelay: nominalDelaySeconds(policy, attemptsUsed + 1),
      retryDelayMax: policy.maxDelaySeconds,
    },
  };
}

/** What the DB lane needs of a stored job to carry it on. */
export function carriedFrom(row: JobRow): CarriedJob {
  return {
    id: row.id,
    groupId: row.message_group_id,
    execution: row.execution_config,
    maxAttempts: row.max_attempts,
    abandonedAttempts: row.abandoned_attempts,
    retryPolicy: row.retry_policy,
  };
}

/** When the first DB-lane run after a failed attempt `attemptsUsed` starts: that attempt's backoff. */
export function backoffAfter(job: Pick<CarriedJob, 'maxAttempts' | 'retryPolicy'>, attemptsUsed: number, now = Date.now()): Date {
  return new Date(now + nominalDelaySeconds({ maxAttempts: job.maxAttempts, ...job.retryPolicy }, attemptsUsed) * 1000);
}

/**
 * The moment a schedule job runs, rounded up to a whole second (EventBridge's at() has no
 * fractions, and rounding down would run it early). Refuses a time that has passed or that lies
 * beyond what the scheduler keeps.
 */
function resolveScheduleTime(execution: ScheduleExecution, now = Date.now()): Date {
  const field = execution.at !== undefined ? 'message.execution.at' : 'message.execution.delaySeconds';
  const wanted = execution.at !== undefined ? Date.parse(execution.at) : now + execution.delaySeconds! * 1000;
  const at = new Date(Math.ceil(wanted / 1000) * 1000);
  if (wanted <= now) throw ValidationError.field(field, 'must be in the future');
  if (at.getTime() - now > MAX_SCHEDULE_AHEAD_SECONDS * 1000) {
    throw ValidationError.field(field, `must be at most ${MAX_SCHEDULE_AHEAD_SECONDS / 86_400} days ahead`);
  }
  return at;
}

/** A schedule job takes its time from its execution (at or delaySeconds), not from runAt. */
function scheduleTimeOf(request: CreateJobRequest, execution: ScheduleExecution): Date {
  if (request.runAt !== undefined || request.delaySeconds !== undefined) {
    throw ValidationError.field(request.runAt !== undefined ? 'runAt' : 'delaySeconds', 'a schedule job takes its time from message.execution.at or delaySeconds');
  }
  return resolveScheduleTime(execution);
}

export interface PrepareOptions {
  /** The legacy contract's type and original body. */
  legacy?: { type: string; payload: unknown };
  /** The trace the create request came in (src/ops/trace.ts); a fresh one when not given. */
  trace?: TraceContext;
}

export function prepareDbJob(config: Config, request: CreateJobRequest, { legacy, trace = freshTraceContext() }: PrepareOptions = {}): PreparedJob {
  const execution = request.message.execution;
  const policy = resolveRetryPolicy(config.retry, request.retry);
  const scheduleAt = execution.type === 'schedule' ? scheduleTimeOf(request, execution) : null;
  const runAt = scheduleAt ?? runAtOf(request);
  const id = newJobId();
  return {
    row: {
      id,
      appId: request.appId,
      mode: request.mode,
      executionType: execution.type,
      lambdaProxyMessage: request.message.lambdaProxyMessage,
      executionConfig: execution,
      metadata: request.message.metadata ?? {},
      messageGroupId: request.messageGroupId ?? null,
      idempotencyKey: request.idempotencyKey ?? null,
      status: scheduleAt ? 'scheduled' : 'pending',
      maxAttempts: policy.maxAttempts,
      retryPolicy: { baseDelaySeconds: policy.baseDelaySeconds, maxDelaySeconds: policy.maxDelaySeconds },
      runAt,
      type: legacy?.type ?? null,
      payload: legacy?.payload ?? null,
      traceparent: trace.traceparent,
      tracestate: trace.tracestate,
    },
    lane: { id, groupId: request.messageGroupId, startAfter: runAt ?? undefined, ...laneSettings(config, execution, policy) },
  };
}
