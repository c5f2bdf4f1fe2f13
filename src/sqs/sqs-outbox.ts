// The SQS outbox: mode=both jobs wait here, committed with their jobs row, until they are sent to
// SQS. pg-boss retries a send that failed, so an SQS outage delays delivery and loses nothing. The
// queue is key_strict_fifo on the SQS message group, so a group reaches SQS in the order it was
// created even when a send has to be retried. Like the other lanes it never decides what a job means.
import { PgBoss, type Job } from 'pg-boss';
import type { SqlClient } from '../db/sql-client.ts';
import { pgBossHosting, type LaneHosting } from '../lanes/db-lane.ts';

export const OUTBOX_QUEUE = 'switchyard-sqs-outbox';
const SCHEMA = 'pgboss';
// An outage of SQS may last: keep retrying (capped at a minute apart) for about a week.
const RETRY_LIMIT = 10_000;
const RETRY_DELAY_SECONDS = 1;
const RETRY_DELAY_MAX_SECONDS = 60;
const EXPIRE_SECONDS = 60;
const RETENTION_SECONDS = 30 * 24 * 3600;
// A forwarded entry is kept as long as SQS may keep its message (14 days at most): until then it is
// the record that the job's next delivery is SQS's, which the reconciler must not take over.
const DELETE_AFTER_SECONDS = 14 * 24 * 3600;

export interface OutboxEntry {
  jobId: string;
  /** The SQS message group, which orders the outbox too. */
  groupId: string;
}

export class SqsOutbox {
  readonly #boss: PgBoss;
  readonly #onReadyJob: () => void;

  private constructor(boss: PgBoss, onReadyJob: () => void) {
    this.#boss = boss;
    this.#onReadyJob = onReadyJob;
  }

  /** `hosting.onReadyJob` is told of every entry added: it is ready to be forwarded at once. */
  static async start(connectionString: string, onError: (error: Error) => void, hosting: LaneHosting = {}): Promise<SqsOutbox> {
    const boss = new PgBoss({
      schema: SCHEMA,
      application_name: 'switchyard-sqs-outbox',
      ...pgBossHosting(connectionString, hosting),
      superviseIntervalSeconds: 5,
      schedule: false,
    });
    boss.on('error', onError);
    await boss.start();
    if (hosting.maintain !== false) await boss.createQueue(OUTBOX_QUEUE, {
      policy: 'key_strict_fifo',
      notify: true,
      retentionSeconds: RETENTION_SECONDS,
      deleteAfterSeconds: DELETE_AFTER_SECONDS,
    });
    return new SqsOutbox(boss, hosting.onReadyJob ?? (() => {}));
  }

  /** Adds an entry inside the caller's transaction: it exists exactly when the jobs row does. */
  async add(client: SqlClient, entry: OutboxEntry): Promise<void> {
    await this.#boss.send(OUTBOX_QUEUE, { jobId: entry.jobId }, {
      db: { executeSql: (text, values) => client.query(text, values) },
      // The job's own id, so "is this job's message still on its way to SQS" is one index lookup
      // (the reconciler's invariant, src/jobs/invariant.ts).
      id: entry.jobId,
      // Per entry as well as per queue: a queue created by an older version keeps its own setting.
      deleteAfterSeconds: DELETE_AFTER_SECONDS,
      singletonKey: entry.groupId,
      expireInSeconds: EXPIRE_SECONDS,
      retryLimit: RETRY_LIMIT,
      retryDelay: RETRY_DELAY_SECONDS,
      retryBackoff: true,
      retryDelayMax: RETRY_DELAY_MAX_SECONDS,
    });
    this.#onReadyJob();
  }

  /** Forwards entries as they arrive; a `forward` that throws leaves the entry to pg-boss's retry. */
  async work(forward: (jobId: string) => Promise<void>, pollingIntervalSeconds: number): Promise<void> {
    await this.#boss.work(
      OUTBOX_QUEUE,
      { batchSize: 1, pollingIntervalSeconds, notifyPollingIntervalSeconds: Math.max(1, pollingIntervalSeconds) },
      async ([job]: Job<{ jobId: string }>[]) => forward(job!.data.jobId),
    );
  }

  /**
   * Forwards up to `limit` due entries now, for deployments without in-process workers (the cron
   * entry point). Returns how many were sent; failures go back to pg-boss's retry.
   */
  async forwardDue(limit: number, forward: (jobId: string) => Promise<void>): Promise<number> {
    const jobs = await this.#boss.fetch<{ jobId: string }>(OUTBOX_QUEUE, { batchSize: limit });
    let sent = 0;
    for (const job of jobs) {
      try {
        await forward(job.data.jobId);
        await this.#boss.complete(OUTBOX_QUEUE, job.id);
        sent++;
      } catch (error) {
        await this.#boss.fail(OUTBOX_QUEUE, job.id, { message: (error as Error).message });
      }
    }
    return sent;
  }

  async stop(timeoutMs: number): Promise<void> {
    await this.#boss.stop({ graceful: true, timeout: timeoutMs, close: true });
  }
}
