// The two things nearly every caller writes around the raw client: wait for a job to finish, and
// walk a list past its first page. Both throw SwitchyardError for an error answer, so a loop that
// uses them need not check `error` at every step.
import { SwitchyardError, type Job, type JobStatus, type ListJobsQuery, type SwitchyardClient } from './client.ts';

/** The states a job does not leave by itself (an admin may still retry a failed or dead-lettered one). */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'dead_lettered', 'cancelled'];

export interface WaitForJobOptions {
  /** Give up after this long; default 60 s. A job that retries with backoff can take far longer: raise it. */
  timeoutMs?: number;
  /** How often to read the job; default 500 ms. */
  pollIntervalMs?: number;
  /** Stops the wait (and the request in flight); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The wait ran out before the job reached a terminal state; `job` is how it was last seen. */
export class JobWaitTimeoutError extends Error {
  readonly job: Job;
  constructor(job: Job, timeoutMs: number) {
    super(`job ${job.id} is still ${job.status} after ${timeoutMs} ms`);
    this.name = 'JobWaitTimeoutError';
    this.job = job;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', aborted);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const aborted = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/**
 * Reads the job until it is completed, failed, dead-lettered or cancelled, and returns it as it
 * then is (check `status`: a failed job resolves too). Rejects with SwitchyardError when the API
 * answers an error (404: no such job for this key), with JobWaitTimeoutError when the time runs out.
 */
export async function waitForJob(client: SwitchyardClient, id: string, options: WaitForJobOptions = {}): Promise<Job> {
  const { timeoutMs = 60_000, pollIntervalMs = 500, signal } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const { data, error, response } = await client.GET('/v1/jobs/{id}', { params: { path: { id } }, signal });
    if (error) throw new SwitchyardError(response.status, error);
    if (TERMINAL_STATUSES.includes(data.status)) return data;
    const left = deadline - Date.now();
    if (left <= 0) throw new JobWaitTimeoutError(data, timeoutMs);
    await sleep(Math.min(pollIntervalMs, left), signal);
  }
}

/**
 * Every job the query matches, newest first, fetched a page at a time (`limit` is the page size)
 * as the loop asks for them; the keyset cursor keeps the walk stable while jobs are being created.
 *
 *   for await (const job of listAllJobs(client, { status: 'dead_lettered' })) console.log(job.id);
 */
export async function* listAllJobs(client: SwitchyardClient, query: ListJobsQuery = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<Job, void, undefined> {
  let cursor = query.cursor;
  do {
    const { data, error, response } = await client.GET('/v1/jobs', { params: { query: { ...query, cursor } }, signal: options.signal });
    if (error) throw new SwitchyardError(response.status, error);
    yield* data.jobs;
    cursor = data.nextCursor ?? undefined;
  } while (cursor !== undefined);
}
