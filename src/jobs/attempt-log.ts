// The one hook every executed attempt goes through, whichever lane ran it: one log line with the
// fields an operator filters on (job, app, lane, type, attempt, outcome, duration) and a sentence
// for a person, and the attempt counted in the service's metrics. Lanes call it once per attempt
// they settle, so the log and the counters cannot disagree.
import type { Outcome } from '../executors/executor.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';

export type Lane = 'db' | 'sqs' | 'scheduler';

export interface ExecutedAttempt {
  jobId: string;
  appId: string;
  lane: Lane;
  type: string;
  attempt: number;
  maxAttempts: number;
  /** What the outcome made of the job: completed, retrying, failed, dead_lettered. */
  status: 'completed' | 'retrying' | 'failed' | 'dead_lettered';
  outcome: Outcome;
  /** When the attempt began; its run time stands in for the duration when the target never answered. */
  startedAt?: Date;
  /** When the attempt was due (run_at, next_retry_at or created_at): the queue wait is startedAt minus this. */
  dueAt?: Date | null;
}

export interface AttemptObservers {
  log: Logger;
  /** Absent in tools and tests that build a lane without a service. */
  metrics?: Metrics;
}

export function observeAttempt(observers: AttemptObservers, attempt: ExecutedAttempt): void {
  const { outcome } = attempt;
  const reason = outcome.kind === 'ok' ? undefined : outcome.reason;
  observers.log.info({
    jobId: attempt.jobId,
    appId: attempt.appId,
    lane: attempt.lane,
    type: attempt.type,
    attempt: attempt.attempt,
    maxAttempts: attempt.maxAttempts,
    outcome: attempt.status,
    httpStatus: outcome.response?.status,
    durationMs: outcome.response?.durationMs,
    reason,
  }, `job ${attempt.jobId} attempt ${attempt.attempt}/${attempt.maxAttempts} (${attempt.lane} lane): ${attempt.status}${reason === undefined ? '' : ` (${reason})`}`);
  const { startedAt, dueAt } = attempt;
  const durationMs = outcome.response?.durationMs ?? (startedAt === undefined ? undefined : Date.now() - startedAt.getTime());
  observers.metrics?.attemptSettled({
    lane: attempt.lane,
    type: attempt.type,
    appId: attempt.appId,
    status: attempt.status,
    durationSeconds: durationMs === undefined ? undefined : durationMs / 1000,
    queueWaitSeconds: startedAt === undefined || dueAt == null ? undefined : (startedAt.getTime() - dueAt.getTime()) / 1000,
  });
}
