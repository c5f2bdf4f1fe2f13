// The reconciler: checks "nothing stuck" (invariant.ts) on a timer and at start, and repairs what it
// finds, each repair logged with its job id and counted. It is the backstop, not the mechanism:
// every path that moves a job changes its row and its lane together, so in a healthy run it finds
// nothing. What it catches is what no fence can prevent: a row left over by an older version, a
// lane entry removed by hand, an EventBridge schedule that never fired, an SQS message that
// outlived its queue's retention.
//
// One process at a time across every instance (a transaction-scoped advisory lock), each repair
// fenced: the row is locked and found orphaned again inside the repair's own savepoint.
import { inTransaction, type Pool } from '../db/pool.ts';
import type { SqlClient } from '../db/sql-client.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { alertInBackground, type DeadLetterNotifier } from './dead-letter-alerts.ts';
import { deadLetterLost, findViolations, lockOrphan, lockStray, resumeInDbLane, type Finding } from './invariant.ts';
import { carriedFrom, continueInDbLane } from './job-preparation.ts';
import type { JobRow } from './job-repository.ts';
import type { JobScheduler } from './ports.ts';
import { allowedAttempts } from './retry-policy.ts';

// hashtext('switchyard reconciler'), fixed so every version of the service takes the same lock.
const LOCK_KEY = 0x5e1ec7ed;
const MAX_FINDINGS = 500;

export interface ReconcilerDeps {
  pool: Pool;
  dbLane: DbLane;
  scheduler?: JobScheduler;
  notifier: DeadLetterNotifier;
  defaultTimeoutMs: number;
  log: Logger;
  metrics?: Metrics;
}

export interface ReconcileResult {
  /** False when another process held the lock, so this one did nothing. */
  ran: boolean;
  found: number;
  repaired: number;
}

export class Reconciler {
  readonly #deps: ReconcilerDeps;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ReconcileResult> | undefined;
  #lastRun = 0;
  #repairs = 0;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /** Repairs made by this process since it started. */
  get repairs(): number {
    return this.#repairs;
  }

  /** Runs now, then every `intervalMs`, one run at a time. */
  start(intervalMs: number): void {
    const tick = () => this.runIfDue(0).catch((error) => this.#deps.log.error({ reason: (error as Error).message }, `reconciler: ${(error as Error).message}`));
    void tick();
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Runs unless this process ran within `minIntervalMs` (the cron entry point calls it on every run). */
  async runIfDue(minIntervalMs: number): Promise<ReconcileResult> {
    if (Date.now() - this.#lastRun < minIntervalMs) return { ran: false, found: 0, repaired: 0 };
    return this.run();
  }

  run(): Promise<ReconcileResult> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
      this.#lastRun = Date.now();
    });
    return this.#running;
  }

  async #run(): Promise<ReconcileResult> {
    const afterCommit: (() => Promise<void>)[] = [];
    const result = await inTransaction(this.#deps.pool, async (client) => {
      const { rows: [lock] } = await client.query('SELECT pg_try_advisory_xact_lock($1) AS held', [LOCK_KEY]);
      if (!lock.held) return { ran: false, found: 0, repaired: 0 };
      const findings = await findViolations(client, MAX_FINDINGS);
      let repaired = 0;
      for (const finding of findings) {
        await client.query('SAVEPOINT repair');
        try {
          const action = finding.problem === 'orphaned_row' ? await this.#repairOrphan(client, finding, afterCommit) : await this.#removeStray(client, finding);
          await client.query('RELEASE SAVEPOINT repair');
          if (action === undefined) continue;
          repaired++;
          this.#deps.metrics?.reconcilerRepaired(finding.problem, 1);
          this.#deps.log.warn({ jobId: finding.id, problem: finding.problem, status: finding.status, lane: finding.lane, repair: action }, `reconciler: job ${finding.id} ${finding.problem.replace('_', ' ')} (${finding.status ?? 'no row'}): ${action}`);
        } catch (error) {
          await client.query('ROLLBACK TO SAVEPOINT repair');
          this.#deps.log.error({ jobId: finding.id, problem: finding.problem, reason: (error as Error).message }, `reconciler: job ${finding.id} not repaired: ${(error as Error).message}`);
        }
      }
      return { ran: true, found: findings.length, repaired };
    });
    this.#repairs += result.repaired;
    for (const step of afterCommit) await step().catch((error) => this.#deps.log.warn({ reason: (error as Error).message }, `reconciler: ${(error as Error).message}`));
    return result;
  }

  /** Gives an orphaned row back to the DB lane at the attempt it had, or ends it if that was its last. */
  async #repairOrphan(client: SqlClient, finding: Finding, afterCommit: (() => Promise<void>)[]): Promise<string | undefined> {
    const row = await lockOrphan(client, finding.id);
    if (!row) return undefined;
    const { dbLane, defaultTimeoutMs } = this.#deps;
    if (row.status === 'running' && row.attempts >= allowedAttempts(row.max_attempts, row.abandoned_attempts)) {
      const reason = `the worker running attempt ${row.attempts} of ${row.max_attempts} was lost`;
      await deadLetterLost(client, row, reason);
      // A lane job that failed for good would hold its group: nothing of the job may stay in the lane.
      await dbLane.discard(client, { id: row.id, groupId: row.message_group_id });
      afterCommit.push(async () => alertInBackground(this.#deps.notifier, { id: row.id, appId: row.app_id, executionType: row.execution_type, attempts: row.attempts, lastError: reason }, this.#deps.log));
      return 'dead-lettered: its last attempt was lost';
    }
    const status = row.status === 'running' ? 'retrying' : row.status as 'pending' | 'retrying' | 'scheduled';
    const at = resumeAt(row);
    await resumeInDbLane(client, row, status, at, `the worker running attempt ${row.attempts} stopped before recording an outcome`);
    await dbLane.requeue(client, continueInDbLane(carriedFrom(row), row.attempts, at, defaultTimeoutMs));
    if (row.lane === 'scheduler' && this.#deps.scheduler) {
      const scheduler = this.#deps.scheduler;
      afterCommit.push(() => scheduler.remove(row.id));
    }
    return `given to the DB lane at attempt ${row.attempts + 1}`;
  }

  async #removeStray(client: SqlClient, finding: Finding): Promise<string | undefined> {
    const stray = await lockStray(client, finding.id);
    if (!stray) return undefined;
    await this.#deps.dbLane.discard(client, { id: finding.id, groupId: stray.groupId });
    return 'lane job removed';
  }
}

/** When a resumed job runs: when it was due to, if that is still ahead, else now. */
function resumeAt(row: JobRow): Date {
  const due = row.status === 'retrying' ? row.next_retry_at : row.status === 'pending' ? row.run_at : null;
  return due && due.getTime() > Date.now() ? due : new Date();
}
