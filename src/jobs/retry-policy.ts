// The one retry policy. Attempt n (n = 1 for the first failure) waits min(2^(n-1) × base, max):
// with the defaults 60 s, 120 s, 240 s, … capped at 24 h. In the DB lane pg-boss applies it natively
// (retryDelay = base, retryBackoff, retryDelayMax = max) and adds jitter of up to the same again,
// so that many jobs failing together do not come back together; the real time of the next attempt
// is read back from pg-boss into jobs.next_retry_at.
import type { RetryDefaults } from '../config/config.ts';
import type { Outcome } from '../executors/executor.ts';
import type { SettledStatus } from './attempt-repository.ts';
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
 * How many attempts a job may have: its max_attempts, plus those the service abandoned itself (a
 * stop, a Lambda function's deadline), which do not count against it. At most max_attempts of them
 * are free: a job that can never finish inside the time it is given (its timeout longer than the
 * function that runs it) would otherwise be abandoned and run again for ever.
 */
export function allowedAttempts(maxAttempts: number, abandonedAttempts: number): number {
  return maxAttempts + Math.min(abandonedAttempts, maxAttempts);
}

/**
 * What an attempt's outcome makes of its job, in every lane and the scheduler callback.
 * `allowedAttempts` is max_attempts plus the attempts the service abandoned itself, which do not
 * count. An abandoned attempt always retries: the service gave it up, the target never said no.
 */
export function attemptStatus(outcome: Outcome, attempt: number, allowedAttempts: number, abandoned = false): SettledStatus {
  if (outcome.kind === 'ok') return 'completed';
  if (abandoned) return 'retrying';
  if (outcome.kind === 'fail') return 'failed';
  return hasAttemptsLeft({ maxAttempts: allowedAttempts }, attempt) ? 'retrying' : 'dead_lettered';
}

/**
 * An attempt the service abandoned itself: it was told to stop (the drain's signal, at a stop whose
 * bound ran out, or a Lambda function's deadline) and so came back as a retry. A target that
 * answered before that keeps its answer.
 */
export function wasAbandoned(outcome: Outcome, ...gaveUp: (AbortSignal | undefined)[]): boolean {
  return outcome.kind === 'retry' && gaveUp.some((signal) => signal?.aborted);
}
