// How a stop reaches every attempt, in every lane and the scheduler callback alike. From the first
// instant of a stop nothing new is claimed (`stopping`); the attempts already running get the
// shutdown bound to finish; then ONE signal abandons whatever still runs, each abandoned attempt is
// recorded (and put back to run again, not counted against the job), and only then do the lanes,
// the pool and the database close.
export class Drain {
  readonly #abandon = new AbortController();
  readonly #inFlight = new Set<Promise<unknown>>();
  #stopping = false;

  /** Aborted when the stop's bound has run out: every attempt still running is abandoned. */
  get signal(): AbortSignal {
    return this.#abandon.signal;
  }

  /** True from the first instant of a stop: claim nothing new. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Counts `work` as in flight until it settles, so a stop waits for it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    const forget = () => this.#inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /**
   * Stops: no new claims at once; waits up to `timeoutMs` for the work in flight; then abandons
   * what is left and waits up to `recordMs` more for it to record that (a database round trip or
   * two). Resolves when nothing is in flight or those bounds have passed.
   */
  async stop(timeoutMs: number, recordMs: number): Promise<void> {
    this.#stopping = true;
    if (!(await this.#idleWithin(timeoutMs))) {
      this.#abandon.abort();
      await this.#idleWithin(recordMs);
    }
  }

  async #idleWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
    try {
      for (;;) {
        if (this.#inFlight.size === 0) return true;
        const done = await Promise.race([Promise.allSettled([...this.#inFlight]).then(() => true), timedOut]);
        if (!done) return false;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * One attempt's signal from several: the lane's own (pg-boss aborts it when it takes an expired
 * claim back), the drain's, and the caller's deadline if it has one (a Lambda function's).
 * Listeners rather than AbortSignal.any, whose composite signals stayed alive as long as the
 * drain's long-lived signal did (the service's RSS grew with the jobs run).
 */
export function attemptSignal(...sources: (AbortSignal | undefined)[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const signals = sources.filter((signal): signal is AbortSignal => signal !== undefined);
  if (signals.some((signal) => signal.aborted)) abort();
  for (const signal of signals) signal.addEventListener('abort', abort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      for (const signal of signals) signal.removeEventListener('abort', abort);
    },
  };
}
