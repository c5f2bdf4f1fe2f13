// One attempt's abort signal: fires when the lane abandons the attempt (shutdown, expiry) or when
// its timeout passes, and says which. One timer per attempt, cleared by `dispose` when it ends.
// AbortSignal.timeout() would keep each signal (and its AbortSignal.any() composite) alive for the
// whole timeout after the call is done: at thousands of jobs per second that held tens of thousands
// of them, and the service's RSS grew with the number of jobs run.
export interface AttemptDeadline {
  signal: AbortSignal;
  timedOut(): boolean;
  dispose(): void;
}

export function attemptDeadline(timeoutMs: number, abandoned: AbortSignal): AttemptDeadline {
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeoutMs);
  const abandon = () => abort.abort();
  if (abandoned.aborted) abandon();
  else abandoned.addEventListener('abort', abandon, { once: true });
  return {
    signal: abort.signal,
    timedOut: () => timedOut,
    dispose() {
      clearTimeout(timer);
      abandoned.removeEventListener('abort', abandon);
    },
  };
}
