// Assembles a running Switchyard from a config: database, migrations, lanes, executors, workers,
// HTTP. main.ts runs it as a long-lived server; the tests start it the same way.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppKeys } from './apps/app-keys.ts';
import { CreateRateLimit } from './apps/create-rate-limit.ts';
import { SecretBox } from './apps/secret-box.ts';
import type { Config } from './config/config.ts';
import { ChangeListener } from './db/change-listener.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { createPool, describeDatabase, type Pool } from './db/pool.ts';
import { createAwsClients } from './aws/clients.ts';
import { createLambdaInvokeExecutor } from './executors/lambda-invoke.ts';
import { createLambdaUrlExecutor } from './executors/lambda-url.ts';
import { ExecutorRegistry } from './executors/registry.ts';
import { createRestApiExecutor } from './executors/rest-api.ts';
import { createScheduleExecutor } from './executors/schedule.ts';
import { createSesNotifier, silentNotifier } from './jobs/dead-letter-alerts.ts';
import { createEmbeddedScheduler, createEventBridgeScheduler } from './scheduling/job-scheduler.ts';
import { ScheduledMessages } from './scheduling/scheduled-messages.ts';
import { KEEP_ALIVE } from './executors/http-send.ts';
import { createGuardedDispatcher } from './executors/ssrf-guard.ts';
import { createApp } from './http/app.ts';
import type { Logger } from './ops/log.ts';
import { Metrics } from './ops/metrics.ts';
import { readQueueStats } from './admin/job-stats-repository.ts';
import { BulkActions } from './admin/bulk-actions.ts';
import { JobAdmin } from './admin/job-admin.ts';
import { JobStats } from './admin/job-stats.ts';
import { DashboardSessions } from './apps/dashboard-sessions.ts';
import { JobIntake } from './admin/job-intake.ts';
import { Drain } from './jobs/drain.ts';
import { JobService } from './jobs/job-service.ts';
import { DbLane } from './lanes/db-lane.ts';
import { SqsJobs } from './sqs/sqs-jobs.ts';

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
  for (const warning of config.warnings) log.warn(`warning: ${warning}`);
  const database = await openDatabase(config, log);
  const cleanups: (() => Promise<void>)[] = [() => database.close()];
  const drain = new Drain();
  const runCleanups = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log.error({ reason: (error as Error).message }, `shutdown: ${(error as Error).message}`));
  };
  try {
    await migrate(database.connectionString, log);
    const pool = createPool(database.connectionString, { log });
    cleanups.push(() => pool.end());
    const metrics = new Metrics();
    metrics.watchPool(pool);
    metrics.watchQueues(() => readQueueStats(pool));
    // Closed after the lane has stopped (cleanups run in reverse), when no attempt is left in flight.
    const dispatcher = createGuardedDispatcher({ allowPrivate: config.allowPrivateTargets }, KEEP_ALIVE);
    cleanups.push(() => dispatcher.destroy());

    const dbLane = await DbLane.start(database.connectionString, config.worker, (error) => log.error({ reason: error.message }, `db lane: ${error.message}`));
    cleanups.push(() => dbLane.stop(config.shutdownTimeoutMs));

    // Key lookups and signing secrets are cached while this listener hears every change to them;
    // with caching off (AUTH_CACHE_SECONDS=0) nothing would read it, so it holds no connection.
    const changes = config.authCacheSeconds > 0 ? await ChangeListener.start(database.connectionString, log) : undefined;
    if (changes) cleanups.push(() => changes.stop());
    const box = config.secretsEncryption && new SecretBox(config.secretsEncryption.key, config.secretsEncryption.previousKeys);
    const appKeys = new AppKeys(pool, changes, config.authCacheSeconds, box);
    await appKeys.sealAtRest(log);
    await appKeys.bootstrap({ bootstrapAdminKey: config.bootstrapAdminKey, embedded: database.embedded }, log);
    const aws = createAwsClients(config);
    cleanups.push(async () => aws.destroy());
    const targets = [
      createRestApiExecutor({ defaultTimeoutMs: config.defaultTimeoutMs, dispatcher }),
      createLambdaUrlExecutor({ defaultTimeoutMs: config.defaultTimeoutMs, region: config.aws.lambdaRegion, credentials: aws.credentials, dispatcher }),
      createLambdaInvokeExecutor({ lambda: aws.lambda, defaultTimeoutMs: config.defaultTimeoutMs }),
    ];
    const executors = new ExecutorRegistry([...targets, createScheduleExecutor(new ExecutorRegistry(targets))]);
    // Chosen once here: config validation guarantees the target and role come together.
    const { schedulerTargetArn, schedulerRoleArn, schedulerGroupName } = config.aws;
    const scheduler = schedulerTargetArn && schedulerRoleArn
      ? createEventBridgeScheduler({ client: aws.scheduler, groupName: schedulerGroupName, targetArn: schedulerTargetArn, roleArn: schedulerRoleArn })
      : createEmbeddedScheduler(dbLane);
    const notifier = config.alertEmailTo.length > 0
      ? createSesNotifier({ ses: aws.ses, from: config.aws.sesFromEmail!, to: config.alertEmailTo })
      : silentNotifier;
    // Every path that runs a job (the DB lane, the SQS lane, the scheduler callback) signs with these.
    const signingSecrets = (appIds: string[]) => appKeys.signingSecrets(appIds);
    // Every lane reports an outcome that matched no running attempt to the one place that counts them.
    const onStaleSettle = (lane: 'db' | 'sqs' | 'scheduler', jobIds: string[]) => jobs.reportStaleSettle(lane, jobIds);
    const sqsJobs = await SqsJobs.fromConfig({
      config, pool, dbLane, executors, signingSecrets, notifier, drain, onStaleSettle, log, metrics, connectionString: database.connectionString,
    }, cleanups);
    const jobs = new JobService({ config, pool, dbLane, executors, sqsJobs, scheduler, notifier, log, metrics, signingSecrets, drain });
    const scheduledMessages = new ScheduledMessages({
      pool, dbLane, executors, scheduler, notifier, defaultTimeoutMs: config.defaultTimeoutMs, signingSecrets, drain, onStaleSettle, log, metrics,
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
    }

    const jobAdmin = new JobAdmin({ config, pool, dbLane, scheduler, log });
    const jobIntake = new JobIntake({ config, pool, dbLane, executors, metrics });
    // Runs by every process, so a run whose process died is resumed by another; stopped before the pool closes.
    const bulkActions = new BulkActions({ pool, jobAdmin, log, metrics });
    bulkActions.startSweep();
    cleanups.push(() => bulkActions.stop());
    const app = createApp({
      jobs, jobAdmin, bulkActions, jobIntake, sqsJobs, scheduledMessages, internalToken: config.internalToken, appKeys,
      createRateLimit: new CreateRateLimit(pool, config.createRateLimit), log,
      metrics, metricsToken: config.metricsToken, dashboard: { stats: new JobStats(pool), sessions: new DashboardSessions(pool) },
    });
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
      stop: () => (stopping ??= stop()),
    };
  } catch (error) {
    await runCleanups();
    throw error;
  }
}
