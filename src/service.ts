// A running Switchyard for the long-lived server: its database (DATABASE_URL or the embedded one),
// migrations, the parts (assembly.ts), workers and the HTTP listener. main.ts runs it; the tests
// start it the same way.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assembleSwitchyard } from './assembly.ts';
import type { Config } from './config/config.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { describeDatabase, type Pool } from './db/pool.ts';
import type { JobService } from './jobs/job-service.ts';
import type { ScheduledMessages } from './scheduling/scheduled-messages.ts';

export interface Switchyard {
  /** Where the API listens, e.g. http://127.0.0.1:8000 */
  url: string;
  /** A safe description of the database in use (no credentials). */
  database: string;
  embedded: boolean;
  pool: Pool;
  jobs: JobService;
  /** The EventBridge Scheduler callback. */
  scheduledMessages: ScheduledMessages;
  /** Stops claiming, lets running jobs finish within the shutdown bound, closes everything. */
  stop(): Promise<void>;
}

const LOST_ATTEMPT_SWEEP_MS = 5_000;
// Node's default, stated so the bound is a decision: larger headers get 431 before any route runs.
const MAX_HEADER_BYTES = 16 * 1024;

export async function startSwitchyard(config: Config, log: (message: string) => void = console.log): Promise<Switchyard> {
  const database = await openDatabase(config, log);
  const cleanups: (() => Promise<void>)[] = [() => database.close()];
  const runCleanups = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log(`shutdown: ${(error as Error).message}`));
  };
  try {
    await migrate(database.connectionString, log);
    const { pool, dbLane, sqsJobs, jobs, scheduledMessages, app } = await assembleSwitchyard(config, database.connectionString, {
      log,
      cleanups,
      bootstrap: { embedded: database.embedded },
    });

    if (config.runWorkers) {
      await dbLane.work(async (batch) => {
        await jobs.runLaneBatch(batch);
      });
      const sweep = setInterval(() => {
        jobs.recoverLostAttempts().catch((error) => log(`lost-attempt sweep: ${(error as Error).message}`));
      }, LOST_ATTEMPT_SWEEP_MS);
      sweep.unref();
      cleanups.push(async () => clearInterval(sweep));
      if (sqsJobs) {
        await sqsJobs.startWorkers(config.worker.concurrency);
        cleanups.push(() => sqsJobs.stopWorkers(config.shutdownTimeoutMs));
      }
    }

    const server: Server = await new Promise((resolve, reject) => {
      const listening = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, app.callback()).listen(config.port, config.host, () => resolve(listening));
      listening.once('error', reject);
    });
    // Keep-alive sockets from clients would otherwise hold close() open until they time out.
    cleanups.push(() => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
    const { port } = server.address() as AddressInfo;

    let stopping: Promise<void> | undefined;
    return {
      url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
      database: describeDatabase(database.connectionString),
      embedded: database.embedded,
      pool,
      jobs,
      scheduledMessages,
      stop: () => (stopping ??= runCleanups()),
    };
  } catch (error) {
    await runCleanups();
    throw error;
  }
}
