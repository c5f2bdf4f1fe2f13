// Low latency without a server: the api function creates a DB-lane job (or a mode=both outbox
// entry), and nothing is running to pick it up until the next run-db-jobs tick (minutes). So after a
// request that put a job in the lane ready to run, the api function invokes run-db-jobs
// asynchronously (InvocationType Event), which starts it within about a second (cold) or tens of
// milliseconds (warm), or forwards the entry to SQS. The cron stays as the safety net for a wake that
// failed, and for retries and delayed jobs coming due.
//
// Debounced per container: within WAKE_INTERVAL_MS of this container's last wake no new one is sent,
// since that wake's run-db-jobs is still fetching: an invocation started by a wake keeps fetching
// until WAKE_LINGER_MS after it began (a multiple of LINGER_POLL_MS past the interval), so a job
// committed before the interval ran out is claimed by one of those fetches. A wake is sent before
// the api invocation returns, because Lambda freezes the container once it has answered.

/** The event a wake sends; run-db-jobs lingers only for these, not for its cron ticks. */
import type { Logger } from '../ops/log.ts';

export const WAKE_EVENT = { source: 'switchyard.ready-job-wake' } as const;
export const WAKE_INTERVAL_MS = 500;
export const LINGER_POLL_MS = 100;
// The interval, one poll to see a job committed at its very end, and one more for the slack between
// the api's clock reading and run-db-jobs' start (which can only come later, never earlier).
export const WAKE_LINGER_MS = WAKE_INTERVAL_MS + 2 * LINGER_POLL_MS;

export function isWake(event: unknown): boolean {
  return typeof event === 'object' && event !== null && (event as { source?: unknown }).source === WAKE_EVENT.source;
}

export class ReadyJobWake {
  readonly #invoke: () => Promise<void>;
  readonly #log: Logger;
  #ready = false;
  #lastWakeAt = Number.NEGATIVE_INFINITY;

  /** `invoke` sends one asynchronous invocation of run-db-jobs. */
  constructor(invoke: () => Promise<void>, log: Logger) {
    this.#invoke = invoke;
    this.#log = log;
  }

  /** A job was put in the DB lane ready to run (the DB lane's onReadyJob). */
  noteReadyJob(): void {
    this.#ready = true;
  }

  /**
   * Sends the wake the last request earned, unless one went out within the interval. Never throws:
   * a wake that fails leaves the job to the cron, which is what happens without wakes at all.
   */
  async flush(): Promise<void> {
    if (!this.#ready) return;
    this.#ready = false;
    const now = Date.now();
    if (now - this.#lastWakeAt < WAKE_INTERVAL_MS) return;
    this.#lastWakeAt = now;
    try {
      await this.#invoke();
    } catch (error) {
      this.#log.warn({ reason: (error as Error).message }, `run-db-jobs wake not sent (the next cron tick runs the job): ${(error as Error).message}`);
    }
  }
}
