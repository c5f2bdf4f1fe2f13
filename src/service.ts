// A running Switchyard for the long-lived server: its database (DATABASE_URL or the embedded one),
// migrations, the parts (assembly.ts), workers and the HTTP listener, and the stop that loses
// nothing. main.ts runs it; the tests start it the same way.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BulkActions } from './admin/bulk-actions.ts';
import { assembleSwitchyard } from './assembly.ts';
import type { Config } from './config/config.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { describeDatabase, type Pool } from './db/pool.ts';
import type { JobService } from './jobs/job-service.ts';
import type { Logger } from './ops/log.ts';
import type { Metrics } from './ops/metrics.ts';
import type { ScheduledMessages } from './scheduling/scheduled-messages.ts';
import type { Pruner } from './retention/pruner.ts';

export interface Switchyard {
  /** Where the API listens, e.g. http://127.0.0.1:8000 */
  url: string;
  /** A safe description of the database in use (no credentials). */
  database: string;
  embedded: boolean;
  pool: Pool;
  jobs: JobService;
  /** This service's Prometheus registry (GET /metrics). */
  metrics: Metrics;
  bulkActions: BulkActions;
  /** The EventBridge Scheduler callback. */
  scheduledMessages: ScheduledMessages;
  /** The retention pruner (on its timer in worker processes, PRUNE_INTERVAL_SECONDS). */
  pruner: Pruner;
  /** Stops claiming, lets running jobs finish within the shutdown bound, closes everything. */
  stop(): Promise<void>;
}

const LOST_ATTEMPT_SWEEP_MS = 5_000;
// After the stop's bound, how long abandoned attempts get to record that they were abandoned.
const ABANDON_RECORD_MS = 1_000;
// Node's default, stated so the bound is a decision: larger headers get 431 before any route runs.
const MAX_HEADER_BYTES = 16 * 1024;
// A client has this long to send its headers, and its whole request: a slow-loris connection is
// closed instead of holding a socket for Node's defaults (60 s, 300 s). Checked every second.
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 60_000;
const TIMEOUT_CHECK_MS = 1_000;

export async function startSwitchyard(config: Config, log: Logger): Promise<Switchyard> {
  const database = await openDatabase(config, log);
  const cleanups: (() => Promise<void>)[] = [() => database.close()];
  const runCleanups = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log.error({ reason: (error as Error).message }, `shutdown: ${(error as Error).message}`));
  };
  try {
    await migrate(database.connectionString, log);
    const { pool, dbLane, sqsJobs, jobs, scheduledMessages, bulkActions, pruner, metrics, drain, app } = await assembleSwitchyard(config, database.connectionString, {
      log,
      cleanups,
      bootstrap: { embedded: database.embedded },
    });

    if (config.runWorkers) {
      await dbLane.work(async (batch) => {
        await jobs.runLaneBatch(batch);
      });
      const sweep = setInterval(() => {
        jobs.recoverLostAttempts().catch((error) => log.error({ reason: (error as Error).message }, `lost-attempt sweep: ${(error as Error).message}`));
      }, LOST_ATTEMPT_SWEEP_MS);
      sweep.unref();
      cleanups.push(async () => clearInterval(sweep));
      jobs.reconciler.start(config.reconcileIntervalSeconds * 1000);
      cleanups.push(async () => jobs.reconciler.stop());
      if (sqsJobs) await sqsJobs.startWorkers(config.worker.concurrency);
      // Stopped by its cleanup (assembly.ts), after its current batch.
      if (config.retention.intervalSeconds > 0) pruner.start(config.retention.intervalSeconds * 1000);
    }
    bulkActions.startSweep();

    const server: Server = await new Promise((resolve, reject) => {
      const listening = createServer({
        maxHeaderSize: MAX_HEADER_BYTES,
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        connectionsCheckingInterval: TIMEOUT_CHECK_MS,
      }, app.callback()).listen(config.port, config.host, () => resolve(listening));
      listening.once('error', reject);
    });
    // Keep-alive sockets from clients would otherwise hold close() open until they time out.
    cleanups.push(async () => {
      server.close();
      server.closeAllConnections();
    });
    const { port } = server.address() as AddressInfo;

    /**
     * The stop, in the order that loses nothing: claim nothing new from the first instant (workers,
     * SQS consumers, new connections, the run-db-jobs and callback routes), give what runs the
     * shutdown bound, abandon what is left through one signal and let it record that, and only then
     * close the lanes, the clients, the pool and the database.
     */
    const stop = async () => {
      const drained = drain.stop(config.shutdownTimeoutMs, ABANDON_RECORD_MS);
      server.close();
      server.closeIdleConnections();
      const claimingStopped = Promise.all([dbLane.stopClaiming(), sqsJobs?.stopReceiving()]);
      await drained;
      await claimingStopped;
      await runCleanups();
    };
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
      database: describeDatabase(database.connectionString),
      embedded: database.embedded,
      pool,
      jobs,
      metrics,
      bulkActions,
      scheduledMessages,
      pruner,
      stop: () => (stopping ??= stop()),
    };
  } catch (error) {
    await runCleanups();
    throw error;
  }
}
