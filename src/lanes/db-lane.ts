// The DB lane: pg-boss moves DB-lane jobs. It claims with SKIP LOCKED, retries with native
// backoff, and keeps per-group order with a key_strict_fifo queue. It never decides what a job
// means: the caller hands it a handler and tells it how each attempt ended.
import { PgBoss, type ConstructorOptions, type Job, type Db as IDatabase } from 'pg-boss';
import type { WorkerSettings } from '../config/config.ts';
import type { Pool } from '../db/pool.ts';
import { named } from '../db/prepared.ts';
import type { SqlClient } from '../db/sql-client.ts';

// Jobs with a message group go to a key_strict_fifo queue (the group is the singletonKey): only
// that policy held order per key, also across retries. Jobs without a group go to a standard queue,
// which needs no key and lets every job run in parallel.
export const STANDARD_QUEUE = 'switchyard-jobs';
const ORDERED_QUEUE = 'switchyard-jobs-ordered';
/** Every queue of the DB lane, for statements that look at lane jobs beside their rows. */
export const QUEUES = [STANDARD_QUEUE, ORDERED_QUEUE];
const SCHEMA = 'pgboss';

// pg-boss deletes a job that waits longer than this before it runs; a job may be delayed for up to
// a year, and may then still be retrying.
const RETENTION_SECONDS = 400 * 24 * 3600;
// Settled pg-boss rows are only the lane's bookkeeping: the jobs table keeps the history. A day, or
// less when a retention period is shorter (LaneHosting.keepSettledSeconds): pg-boss never keeps a
// lane job longer than `jobs` keeps its row. (The pruner also deletes a pruned job's entries.)
const DELETE_AFTER_SECONDS = 24 * 3600;

export interface LaneRetry {
  /** pg-boss retries: one more than the attempts after the first, so a worker lost on the last attempt still hands the job back to be recorded. */
  retryLimit: number;
  retryDelay: number;
  retryDelayMax: number;
}

export interface LaneSend {
  id: string;
  groupId: string | undefined;
  startAfter: Date | undefined;
  /** How long one attempt may run before pg-boss takes the job back and retries it. */
  expireInSeconds: number;
  retry: LaneRetry;
  /** Attempts the job already used in another lane (the SQS lane); its first run here is attempt offset + 1. */
  attemptOffset?: number;
}

export interface LaneJob {
  id: string;
  queue: string;
  /** 1 for the first attempt, counting attempts made in another lane before this one. */
  attempt: number;
  /** Attempts made elsewhere before this lane took the job on (see LaneSend.attemptOffset). */
  attemptOffset: number;
  /** pg-boss's own count, which settling must quote back. */
  retryCount: number;
  signal: AbortSignal;
  /**
   * True when the pg-boss worker that delivered the job completes it itself once the handler
   * returns (see `work`): settling then only has to fail the attempts that retry.
   */
  completedByWorker: boolean;
}

export interface LaneSettlement {
  completed: LaneJob[];
  retry: LaneJob[];
  /**
   * Attempts the service abandoned (a stop): retried at once rather than after a backoff, with one
   * more delivery allowed, since they do not count against the job.
   */
  abandoned?: LaneJob[];
}

/** pg-boss's statements on the caller's client (and transaction), prepared: their texts repeat. */
function asDatabase(client: SqlClient): IDatabase {
  // Only statements with parameters: pg sends those through the extended protocol anyway, while
  // a text without any may hold several statements, which only the simple protocol takes.
  return { executeSql: (text, values) => (values?.length ? client.query(named(text, values)) : client.query(text)) };
}

function toLaneJob(job: Job<unknown>, completedByWorker: boolean): LaneJob {
  const offset = (job.data as { attemptOffset?: number } | null)?.attemptOffset ?? 0;
  return { id: job.id, queue: job.name, attempt: job.retryCount + 1 + offset, attemptOffset: offset, retryCount: job.retryCount, signal: job.signal, completedByWorker };
}

const queueOf = (groupId: string | null) => (groupId === null ? STANDARD_QUEUE : ORDERED_QUEUE);

/** A lane job as pg-boss takes it: the group is the singletonKey, the retry policy is pg-boss's native backoff. */
function toPgBossJob(job: LaneSend) {
  return {
    id: job.id,
    data: job.attemptOffset ? { attemptOffset: job.attemptOffset } : {},
    singletonKey: job.groupId,
    startAfter: job.startAfter,
    expireInSeconds: job.expireInSeconds,
    retryLimit: job.retry.retryLimit,
    retryDelay: job.retry.retryDelay,
    retryBackoff: true,
    retryDelayMax: job.retry.retryDelayMax,
  };
}

/** Where a pg-boss instance runs and what it looks after; the defaults are the long-running server's. */
export interface LaneHosting {
  /**
   * Run pg-boss's statements on this pool instead of a pool of its own, and so without LISTEN/NOTIFY
   * (nothing waits for it there): a Lambda container keeps one small pool for everything.
   */
  pool?: Pool;
  /**
   * True (the default): pg-boss installs or migrates its schema, the queues are created, and its
   * supervisor (claim expiry, retention) runs on timers. False (a Lambda function): the schema and
   * queues must already exist, made by the migrate step, and `supervise()` is called from a cron.
   */
  maintain?: boolean;
  /**
   * Told after a send that put a job in the lane ready to run now. Inside a caller's transaction that
   * may still roll back: a listener acts once the caller's work is done, and a spare wake-up is harmless.
   */
  onReadyJob?: () => void;
  /**
   * The shortest retention of a finished job (RETAIN_COMPLETED, RETAIN_FAILED) when under a day:
   * pg-boss deletes settled lane jobs after that instead.
   */
  keepSettledSeconds?: number;
}

/** The pg-boss constructor options a hosting asks for: its connection, migrations and supervisor. */
export function pgBossHosting(connectionString: string, hosting: LaneHosting): ConstructorOptions {
  const maintain = hosting.maintain ?? true;
  const pool = hosting.pool;
  const connection: ConstructorOptions = pool
    ? { db: { executeSql: (text, values) => pool.query(text, values) }, useListenNotify: false }
    : { connectionString, useListenNotify: true };
  return { ...connection, migrate: maintain, supervise: maintain };
}

const readyNow = (startAfter: Date | undefined) => startAfter === undefined || startAfter.getTime() <= Date.now();

const attemptOf = (job: LaneJob) => ({ id: job.id, retryCount: job.retryCount });

// pg-boss claims with `ORDER BY priority DESC, created_on LIMIT n` over a partial index. That plan
// relies on the planner knowing how many jobs wait: right after a burst of inserts, until
// autovacuum's next pass (up to a minute away), the statistics still describe an almost empty
// table, the planner picks a bitmap scan, and every claim reads and sorts the whole backlog. With
// 20,000 jobs waiting that was 8.7 ms per claim of 50 instead of 1.3 ms (EXPLAIN ANALYZE, see
// docs/performance.md). So while workers run, the lane looks every STATS_CHECK_MS at how many rows
// changed since the last ANALYZE of each queue's table and analyzes it itself past the threshold:
// autovacuum's own rule with a larger floor, and not again within STATS_MIN_INTERVAL_SECONDS of
// any analyze, since draining a backlog changes every row twice and an ANALYZE of a large table
// costs ~100 ms.
const STATS_CHECK_MS = 1_000;
const STATS_STALE_ROWS = 1_000;
const STATS_STALE_FRACTION = 0.2;
const STATS_MIN_INTERVAL_SECONDS = 30;

/**
 * Autovacuum settings of pg-boss's tables that hold the lane's jobs (job_common, where every queue
 * without a partition of its own lives). Every lane job is inserted there, updated twice and deleted
 * a day later, so the table turns over daily: at a million jobs a day it holds a million rows, and
 * the defaults would wait for 200,000 dead ones. At 2% plus 1,000, without cost-based sleeps, a pass
 * comes at every autovacuum_naptime; in `npm run bench:autovacuum` its bloat peaked at 11-15% of the
 * table against 17-23% with the defaults (docs/operations.md, "Table health: autovacuum and bloat").
 * This is the one place these numbers live; those of `jobs` are in migrations/0015_autovacuum.sql.
 */
export const LANE_TABLE_SETTINGS: Readonly<Record<string, number>> = {
  autovacuum_vacuum_scale_factor: 0.02,
  autovacuum_vacuum_threshold: 1_000,
  autovacuum_analyze_scale_factor: 0.02,
  autovacuum_vacuum_cost_delay: 0,
};

/**
 * Puts LANE_TABLE_SETTINGS on the lane's pg-boss tables. Not in a migration: on a new database the
 * migrations run before pg-boss creates its schema and queue tables (src/service.ts), so this runs
 * after createQueue, at every start that maintains the lane (the server, the migrate function). A
 * table that has them already is left alone: ALTER TABLE takes a lock that would cancel an
 * autovacuum pass under way. The names and numbers inlined are this module's constants.
 */
async function applyLaneTableSettings(boss: PgBoss): Promise<void> {
  const settings = Object.entries(LANE_TABLE_SETTINGS).map(([name, value]) => `${name}=${value}`);
  await boss.getDb().executeSql(`
    DO $$
    DECLARE lane_table regclass;
    BEGIN
      FOR lane_table IN
        SELECT DISTINCT format('%I.%I', '${SCHEMA}', q.table_name)::regclass
          FROM ${SCHEMA}.queue q
         WHERE q.name IN (${QUEUES.map((name) => `'${name}'`).join(', ')})
      LOOP
        IF NOT (SELECT coalesce(c.reloptions, '{}') @> ARRAY[${settings.map((setting) => `'${setting}'`).join(', ')}] FROM pg_class c WHERE c.oid = lane_table) THEN
          EXECUTE format('ALTER TABLE %s SET (${settings.join(', ')})', lane_table);
        END IF;
      END LOOP;
    END $$`);
}

export class DbLane {
  readonly #boss: PgBoss;
  readonly #worker: WorkerSettings;
  readonly #onReadyJob: () => void;
  #statsTimer: NodeJS.Timeout | undefined;
  #orderedWorkerId: string | undefined;

  private constructor(boss: PgBoss, worker: WorkerSettings, onReadyJob: () => void) {
    this.#boss = boss;
    this.#worker = worker;
    this.#onReadyJob = onReadyJob;
  }

  static async start(connectionString: string, worker: WorkerSettings, onError: (error: Error) => void, hosting: LaneHosting = {}): Promise<DbLane> {
    const boss = new PgBoss({
      schema: SCHEMA,
      application_name: 'switchyard-db-lane',
      // Own pool: wake workers on NOTIFY the moment a job is inserted, instead of waiting out a polling tick.
      ...pgBossHosting(connectionString, hosting),
      // Expired claims (a worker that died mid-job) are found by pg-boss's monitor pass, which runs
      // on both timers; the defaults (60 s each) would add up to a minute to every recovery.
      superviseIntervalSeconds: 5,
      monitorIntervalSeconds: 10,
      // No pg-boss cron here: EventBridge Scheduler or pg-boss startAfter delay jobs.
      schedule: false,
    });
    boss.on('error', onError);
    await boss.start();
    const deleteAfterSeconds = Math.min(DELETE_AFTER_SECONDS, hosting.keepSettledSeconds ?? Infinity);
    for (const name of hosting.maintain === false ? [] : QUEUES) {
      await boss.createQueue(name, {
        policy: name === ORDERED_QUEUE ? 'key_strict_fifo' : 'standard',
        notify: true,
        retentionSeconds: RETENTION_SECONDS,
        deleteAfterSeconds,
      });
      // createQueue leaves an existing queue as it was; the retention may have changed since.
      await boss.updateQueue(name, { deleteAfterSeconds });
    }
    if (hosting.maintain !== false) await applyLaneTableSettings(boss);
    return new DbLane(boss, worker, hosting.onReadyJob ?? (() => {}));
  }

  /** Adds the job inside the caller's transaction: it exists exactly when the caller commits. */
  async send(client: SqlClient, job: LaneSend): Promise<void> {
    const queue = queueOf(job.groupId ?? null);
    const { data, ...options } = toPgBossJob(job);
    const id = await this.#boss.send(queue, data, { ...options, db: asDatabase(client) });
    if (id === null) throw new Error(`the DB lane already holds a job with id ${job.id}`);
    if (readyNow(job.startAfter)) this.#onReadyJob();
    if (job.attemptOffset) {
      // A job that already failed in another lane enters as a retry, as if it had failed here: in
      // key_strict_fifo a retry holds its group, while a created job whose start_after lies ahead
      // lets later jobs of the group pass it. retry_count stays 0 (it grows only once a job has started).
      await client.query(`UPDATE ${SCHEMA}.job SET state = 'retry' WHERE name = $1 AND id = $2`, [queue, job.id]);
    }
  }

  /**
   * Runs `statement` (a data-modifying query with RETURNING, numbered from $1) and adds the lane job
   * in ONE SQL statement, with no transaction around it: the lane job is inserted only if
   * `statement` returned a row. A single create is thus one round trip instead of four (BEGIN, the
   * caller's insert, pg-boss's insert, COMMIT); on this machine each round trip costs the service
   * and PostgreSQL ~100-200 µs of CPU, which bounded single creates (docs/performance.md).
   *
   * pg-boss builds its own insert, as for `send`: its statement is taken as pg-boss hands it to the
   * `db` adapter and wrapped, `statement` becoming a first CTE (`created`) that pg-boss's job
   * recordset is drawn through. pg-boss's SQL is an internal detail, so the wrapping checks the one
   * shape it relies on and refuses anything else. Returns false when `statement` returned nothing.
   */
  async sendWith(db: SqlClient, job: LaneSend, statement: { text: string; values: unknown[] }): Promise<boolean> {
    if (job.attemptOffset) throw new Error('sendWith takes new jobs only');
    const queue = queueOf(job.groupId ?? null);
    const { data, ...options } = toPgBossJob(job);
    const combined: IDatabase = {
      executeSql: (text, values = []) => {
        const recordset = 'json_to_recordset($1::text::json)';
        const placeholders = text.match(/\$\d+/g) ?? [];
        if (values.length !== 1 || placeholders.length !== 1 || text.split(recordset).length !== 2) {
          throw new Error('pg-boss changed the shape of its insert statement; DbLane.sendWith cannot combine with it');
        }
        const param = `$${statement.values.length + 1}`;
        const laneInsert = text.replace(recordset, `json_to_recordset((SELECT ${param}::text::json FROM created))`).trimStart();
        const sql = laneInsert.startsWith('WITH ')
          ? `WITH created AS (${statement.text}), ${laneInsert.slice('WITH '.length)}`
          : `WITH created AS (${statement.text}) ${laneInsert}`;
        return db.query(named(sql, [...statement.values, values[0]]));
      },
    };
    const id = await this.#boss.send(queue, data, { ...options, db: combined });
    if (id !== null && readyNow(job.startAfter)) this.#onReadyJob();
    return id !== null;
  }

  /** Adds many jobs inside the caller's transaction, one bulk insert per queue. */
  async sendMany(client: SqlClient, jobs: LaneSend[]): Promise<void> {
    const db = asDatabase(client);
    for (const name of QUEUES) {
      const batch = jobs.filter((job) => queueOf(job.groupId ?? null) === name);
      if (batch.length === 0) continue;
      const ids = await this.#boss.insert(name, batch.map(toPgBossJob), { db, returnId: true });
      if (ids?.length !== batch.length) throw new Error(`the DB lane inserted ${ids?.length ?? 0} of ${batch.length} jobs`);
    }
    if (jobs.some((job) => readyNow(job.startAfter))) this.#onReadyJob();
  }

  /**
   * Makes a finished job runnable again under its own id, inside the caller's transaction. pg-boss
   * refuses a second job with an id it holds, so the finished one (kept up to a day after it
   * completed) goes first; the new one starts with a fresh retry count.
   */
  async requeue(client: SqlClient, job: LaneSend): Promise<void> {
    await this.discard(client, { id: job.id, groupId: job.groupId ?? null });
    await this.send(client, job);
  }

  /**
   * Removes a job from the lane inside the caller's transaction, whatever its state: it will not run,
   * and it no longer holds back the later jobs of its group. The jobs table keeps its history.
   */
  async discard(client: SqlClient, job: { id: string; groupId: string | null }): Promise<void> {
    await this.#boss.deleteJob(queueOf(job.groupId), job.id, { db: asDatabase(client) });
  }

  /**
   * Starts in-process workers on both queues. Each batch is handed to `handler`, which must settle
   * every job it is given through `settle`; pg-boss's own completion afterwards finds nothing left.
   */
  async work(handler: (jobs: LaneJob[]) => Promise<void>): Promise<void> {
    const { batchSize, concurrency, pollingIntervalSeconds } = this.#worker;
    for (const name of QUEUES) {
      const workerId: string = await this.#boss.work(
        name,
        {
          batchSize,
          localConcurrency: concurrency,
          // A full batch means more is waiting: fetch again at once so a backlog drains fast.
          burstWhenBatchFull: true,
          // NOTIFY only announces jobs inserted ready to run; due retries and delayed jobs are found
          // by polling, so the poll stays short for them to start within a second or two of their time.
          pollingIntervalSeconds,
          notifyPollingIntervalSeconds: Math.max(1, pollingIntervalSeconds),
        },
        async (jobs: Job<unknown>[]) => {
          // pg-boss completes every job of the batch still active once this returns. The standard
          // queue leaves that to it: an all-completed batch then costs one statement here (the jobs
          // table) and one there, instead of a transaction of four. Should the process die between
          // the two, the claim expires, the job is claimed again, finds its row finished, and is
          // let go without running. The ordered queue completes as each settle commits: the wake-up
          // that follows must find the group's head finished.
          await handler(jobs.map((job) => toLaneJob(job, name === STANDARD_QUEUE)));
        },
      );
      // Finishing the head of a group makes the group's next job ready, and no NOTIFY says so:
      // without the wake-up (see `wake`) each group would advance one job per polling interval.
      if (name === ORDERED_QUEUE) this.#orderedWorkerId = workerId;
    }
    this.#keepPlannerStatistics();
  }

  /** Starts the check described at STATS_CHECK_MS; one run at a time, errors go to pg-boss's error event. */
  #keepPlannerStatistics(): void {
    let running = false;
    const check = async () => {
      if (running) return;
      running = true;
      try {
        await this.#analyzeIfStale();
      } catch (error) {
        this.#boss.emit('error', error as Error);
      } finally {
        running = false;
      }
    };
    void check();
    this.#statsTimer = setInterval(check, STATS_CHECK_MS);
    this.#statsTimer.unref();
  }

  /**
   * ANALYZEs each queue table whose rows changed past the threshold since its last analyze, in one
   * round trip. The transaction-scoped advisory lock lets one of several worker processes do it while
   * the others skip. The names inlined are this module's constants.
   */
  async #analyzeIfStale(): Promise<void> {
    const queues = QUEUES.map((name) => `'${name}'`).join(', ');
    await this.#boss.getDb().executeSql(`
      DO $$
      DECLARE stale regclass;
      BEGIN
        FOR stale IN
          SELECT s.relid::regclass
            FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
           WHERE s.schemaname = '${SCHEMA}'
             AND s.relname IN (SELECT table_name FROM ${SCHEMA}.queue WHERE name IN (${queues}))
             AND s.n_mod_since_analyze > ${STATS_STALE_ROWS} + ${STATS_STALE_FRACTION} * greatest(c.reltuples, 0)
             AND coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') < now() - interval '${STATS_MIN_INTERVAL_SECONDS} seconds'
        LOOP
          IF pg_try_advisory_xact_lock(hashtext('switchyard analyze ' || stale::text)) THEN
            EXECUTE format('ANALYZE %s', stale);
          END IF;
        END LOOP;
      END $$`);
  }

  /**
   * Claims up to `limit` due jobs for a caller that runs them itself (the cron entry point).
   * `signal` abandons their attempts (a Lambda function near its deadline).
   */
  async fetchDue(limit: number, signal: AbortSignal = new AbortController().signal): Promise<LaneJob[]> {
    const claimed: LaneJob[] = [];
    for (const name of QUEUES) {
      if (claimed.length >= limit) break;
      const jobs = await this.#boss.fetch(name, { batchSize: limit - claimed.length });
      claimed.push(...jobs.map((job) => toLaneJob({ ...job, signal }, false)));
    }
    return claimed;
  }

  /**
   * Records how each claimed attempt ended, inside the caller's transaction. Completed jobs release
   * their group; retried jobs keep it and wait out pg-boss's backoff; abandoned jobs keep it and run
   * again at once. Returns when each retried or abandoned job will run again. Jobs that ended for
   * good (failed, dead-lettered) are completed here too: the jobs table says how they ended, and a
   * finished pg-boss job no longer blocks its group. Every call quotes the attempt's retry_count,
   * so a claim that has lapsed meanwhile changes nothing here.
   */
  async settle(client: SqlClient, settlement: LaneSettlement): Promise<Map<string, Date>> {
    const db = asDatabase(client);
    const abandoned = settlement.abandoned ?? [];
    const again = [...settlement.retry, ...abandoned];
    for (const name of QUEUES) {
      const completed = settlement.completed.filter((job) => job.queue === name && !job.completedByWorker).map(attemptOf);
      if (completed.length) await this.#boss.complete(name, completed, null, { db });
      const failed = again.filter((job) => job.queue === name).map(attemptOf);
      if (failed.length) await this.#boss.fail(name, failed, { message: 'attempt failed; see jobs.last_error' }, { db });
    }
    if (again.length === 0) return new Map();
    if (abandoned.length) {
      // pg-boss has no call for "retry now, and do not count this one": the two columns are written
      // directly, fenced on the retry_count the fail above left, like every settle here.
      await client.query(
        `UPDATE ${SCHEMA}.job b SET start_after = now(), retry_limit = b.retry_limit + 1
           FROM unnest($2::uuid[], $3::int[]) AS a(id, retry_count)
          WHERE b.name = ANY($1) AND b.id = a.id AND b.retry_count = a.retry_count AND b.state = 'retry'`,
        [QUEUES, abandoned.map((job) => job.id), abandoned.map((job) => job.retryCount)],
      );
    }
    // pg-boss computes the jittered backoff in SQL and offers no way to read it back but the row.
    const { rows } = await client.query(
      `SELECT id, start_after FROM ${SCHEMA}.job WHERE name = ANY($1) AND id = ANY($2::uuid[]) AND state = 'retry'`,
      [QUEUES, again.map((job) => job.id)],
    );
    return new Map(rows.map((row: { id: string; start_after: Date }) => [row.id, row.start_after]));
  }

  /** False when `settle` would have nothing to do: every job completes through its worker and none retries. */
  needsSettling(settlement: LaneSettlement): boolean {
    return settlement.retry.length > 0 || (settlement.abandoned?.length ?? 0) > 0 || settlement.completed.some((job) => !job.completedByWorker);
  }

  /**
   * Wakes the ordered queue's workers after a settle that finished group heads: the group's next
   * job is ready now, and no NOTIFY says so.
   */
  wake(settled: LaneJob[]): void {
    if (this.#orderedWorkerId !== undefined && settled.some((job) => job.queue === ORDERED_QUEUE)) this.#boss.notifyWorker(this.#orderedWorkerId);
  }

  /**
   * True while the group has a job here not yet finished. A message of the group arriving through
   * the SQS lane must then follow it into this lane instead of overtaking it.
   */
  async holdsGroup(client: SqlClient, groupId: string): Promise<boolean> {
    const { rows } = await client.query(
      `SELECT 1 FROM ${SCHEMA}.job WHERE name = $1 AND singleton_key = $2 AND state IN ('created', 'retry', 'active') LIMIT 1`,
      [ORDERED_QUEUE, groupId],
    );
    return rows.length > 0;
  }

  /**
   * The first step of a stop: the workers claim nothing more from this instant. Batches already
   * running carry on (the service's drain decides how long they get).
   */
  async stopClaiming(): Promise<void> {
    clearInterval(this.#statsTimer);
    this.#orderedWorkerId = undefined;
    await Promise.all(QUEUES.map((name) => this.#boss.offWork(name, { wait: false })));
  }

  /**
   * One pass of pg-boss's supervisor, for a hosting that does not run it on timers: expired claims
   * (a function that timed out mid-job) go back to retry, and retention is applied. pg-boss itself
   * keeps several callers from doing the same pass at once.
   */
  async supervise(): Promise<void> {
    await this.#boss.supervise();
  }

  /**
   * The last step: closes pg-boss. By now the drain has let every batch finish or record its
   * abandoned attempts; anything still held after `timeoutMs` is failed back by pg-boss itself.
   */
  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.#statsTimer);
    await this.#boss.stop({ graceful: true, timeout: timeoutMs, close: true });
  }
}
