// The one log line every executed attempt writes, whichever lane ran it: the fields an operator
// filters on (job, app, lane, type, attempt, outcome, duration) and a sentence for a person.
import type { Outcome } from '../executors/executor.ts';
import type { Logger } from '../ops/log.ts';

export type Lane = 'db' | 'sqs' | 'scheduler';

export interface ExecutedAttempt {
  jobId: string;
  appId: string;
  lane: Lane;
  type: string;
  attempt: number;
  maxAttempts: number;
  /** What the outcome made of the job: completed, retrying, failed, dead_lettered. */
  status: string;
  outcome: Outcome;
}

export function logAttempt(log: Logger, attempt: ExecutedAttempt): void {
  const { outcome } = attempt;
  const reason = outcome.kind === 'ok' ? undefined : outcome.reason;
  log.info({
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
}
