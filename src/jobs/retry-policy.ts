// The one retry policy. Attempt n (n = 1 for the first failure) waits min(2^(n-1) × base, max):
// with the defaults 60 s, 120 s, 240 s, … capped at 24 h. In the DB lane pg-boss applies it natively
// (retryDelay = base, retryBackoff, retryDelayMax = max) and adds jitter of up to the same again,
// so that many jobs failing together do not come back together; the real time of the next attempt
// is read back from pg-boss into jobs.next_retry_at.
import type { RetryDefaults } from '../config/config.ts';
import type { Outcome } from '../executors/executor.ts';
import type { AttemptResult } from './job-repository.ts';
import type { RetryOverride } from '../model/message-schema.ts';
import { ValidationError } from '../model/errors.ts';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}

export function resolveRetryPolicy(defaults: RetryDefaults, override: RetryOverride | undefined): RetryPolicy {
  const policy = {
    maxAttempts: override?.maxAttempts ?? defaults.maxAttempts,
    baseDelaySeconds: override?.baseDelaySeconds ?? defaults.baseDelaySeconds,
    maxDelaySeconds: override?.maxDelaySeconds ?? Math.max(defaults.maxDelaySeconds, override?.baseDelaySeconds ?? 0),
  };
  if (policy.maxDelaySeconds < policy.baseDelaySeconds) {
    throw ValidationError.field('retry.maxDelaySeconds', 'must not be less than retry.baseDelaySeconds');
  }
  return policy;
}

/** The wait before the next attempt after `failedAttempt` failed, before jitter. */
export function nominalDelaySeconds(policy: RetryPolicy, failedAttempt: number): number {
  const doublings = Math.min(Math.max(failedAttempt - 1, 0), 30);
  return Math.min(policy.baseDelaySeconds * 2 ** doublings, policy.maxDelaySeconds);
}

/** True when the attempt that just failed was not the last one allowed. */
export function hasAttemptsLeft(policy: Pick<RetryPolicy, 'maxAttempts'>, attempt: number): boolean {
  return attempt < policy.maxAttempts;
}

/**
 * What an attempt's outcome makes of its job, in either lane. An attempt past the last one is the
 * lane's spare, claimed after the worker of the last attempt was lost: it is not run, its `fail`
 * says so, and the job ends dead-lettered, as when the last attempt fails retryably.
 */
export function attemptStatus(outcome: Outcome, attempt: number, maxAttempts: number): AttemptResult['status'] {
  if (outcome.kind === 'ok') return 'completed';
  if (outcome.kind === 'fail') return attempt > maxAttempts ? 'dead_lettered' : 'failed';
  return hasAttemptsLeft({ maxAttempts }, attempt) ? 'retrying' : 'dead_lettered';
}
