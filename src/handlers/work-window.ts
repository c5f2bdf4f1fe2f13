// How long a Lambda function may keep taking work. Lambda kills a function at its deadline, so an
// attempt still running then is lost (recovered later, like any lost attempt). The window makes that
// the exception: work is taken only while a claimed attempt still has time to finish, and just before
// the deadline whatever still runs is abandoned, recorded as retrying, and the function returns.

/** What Lambda's context offers about the deadline (the handlers need nothing else from it). */
export interface DeadlineContext {
  getRemainingTimeInMillis(): number;
}

// Left at the end to record abandoned attempts and return: a few round trips to Postgres.
export const SETTLE_RESERVE_MS = 2_000;

export interface WorkWindow {
  /** Aborts when no more work should be taken: a new attempt might not finish before `abandon`. */
  stopTaking: AbortSignal;
  /** Aborts just before the deadline: running attempts stop and are recorded as retrying. */
  abandon: AbortSignal;
  /** Milliseconds until `stopTaking` fires (0 once it has). */
  takingMsLeft(): number;
  dispose(): void;
}

/**
 * `attemptMs` is how long a claimed attempt may need (the default attempt timeout). A function whose
 * whole time is shorter than that still takes work for the first half of it rather than none.
 */
export function workWindow(context: DeadlineContext, attemptMs: number): WorkWindow {
  const now = Date.now();
  const abandonIn = Math.max(0, context.getRemainingTimeInMillis() - SETTLE_RESERVE_MS);
  const takeFor = Math.max(0, abandonIn - Math.min(attemptMs, abandonIn / 2));
  const stopTaking = new AbortController();
  const abandon = new AbortController();
  const stopTimer = setTimeout(() => stopTaking.abort(), takeFor);
  const abandonTimer = setTimeout(() => {
    stopTaking.abort();
    abandon.abort();
  }, abandonIn);
  return {
    stopTaking: stopTaking.signal,
    abandon: abandon.signal,
    takingMsLeft: () => (stopTaking.signal.aborted ? 0 : Math.max(0, now + takeFor - Date.now())),
    dispose() {
      clearTimeout(stopTimer);
      clearTimeout(abandonTimer);
    },
  };
}
