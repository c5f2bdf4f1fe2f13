// The parts of Switchyard that every host shares, assembled from a config and a connection string:
// the pool, the lanes, the executors, the services and the Koa app. The one place that chooses each
// implementation. The long-running server (service.ts) adds its database, migrations, workers and
// listener around them; a Lambda container (src/handlers/runtime.ts) runs them as they are. Nothing
// here opens a database of its own, so the Lambda bundles never reach the embedded PostgreSQL.
import type Koa from 'koa';
import { BulkActions } from './admin/bulk-actions.ts';
import { JobAdmin } from './admin/job-admin.ts';
import { JobIntake } from './admin/job-intake.ts';
import { JobStats } from './admin/job-stats.ts';
import { readQueueStats } from './admin/job-stats-repository.ts';
import { AppKeys } from './apps/app-keys.ts';
import { CreateRateLimit } from './apps/create-rate-limit.ts';
import { DashboardSessions } from './apps/dashboard-sessions.ts';
import { SecretBox } from './apps/secret-box.ts';
import { createAwsClients, type AwsClients } from './aws/clients.ts';
import type { Config } from './config/config.ts';
import { ChangeListener } from './db/change-listener.ts';
import { createPool, type Pool } from './db/pool.ts';
import { KEEP_ALIVE } from './executors/http-send.ts';
import { createLambdaInvokeExecutor } from './executors/lambda-invoke.ts';
import { createLambdaUrlExecutor } from './executors/lambda-url.ts';
import { ExecutorRegistry } from './executors/registry.ts';
import { createRestApiExecutor } from './executors/rest-api.ts';
import { createScheduleExecutor } from './executors/schedule.ts';
import { createGuardedDispatcher } from './executors/ssrf-guard.ts';
import { createApp } from './http/app.ts';
import { createSesNotifier, silentNotifier } from './jobs/dead-letter-alerts.ts';
import { Drain } from './jobs/drain.ts';
import { JobService } from './jobs/job-service.ts';
import { DbLane, type LaneHosting } from './lanes/db-lane.ts';
import type { Logger } from './ops/log.ts';
import { Metrics } from './ops/metrics.ts';
import { createEmbeddedScheduler, createEventBridgeScheduler } from './scheduling/job-scheduler.ts';
import { Pruner } from './retention/pruner.ts';
import { ScheduledMessages } from './scheduling/scheduled-messages.ts';
import { SqsJobs } from './sqs/sqs-jobs.ts';

/** The parts of a Switchyard that every host (the server, each Lambda function) runs on. */
export interface SwitchyardParts {
  pool: Pool;
  aws: AwsClients;
  dbLane: DbLane;
  /** The SQS side, when a queue is configured. */
  sqsJobs: SqsJobs | undefined;
  jobs: JobService;
  scheduledMessages: ScheduledMessages;
  jobAdmin: JobAdmin;
  jobIntake: JobIntake;
  bulkActions: BulkActions;
  /** Deletes finished jobs past their retention (retention/pruner.ts); started by the host that prunes. */
  pruner: Pruner;
  /** This host's Prometheus registry (GET /metrics). */
  metrics: Metrics;
  /** The host's stop: what it runs is tracked in it, and abandoned through it (jobs/drain.ts). */
  drain: Drain;
  app: Koa;
}

export interface AssemblyOptions {
  log: Logger;
  /** Each part's cleanup is pushed here as the part is made; the caller runs them in reverse. */
  cleanups: (() => Promise<void>)[];
  /**
   * False (the server): pg-boss keeps pools of its own and LISTENs. True (a Lambda container): pg-boss
   * runs on the service's one pool, so a container holds at most `DATABASE_POOL_MAX` connections.
   */
  lanesOnServicePool?: boolean;
  /** pg-boss's own migrations, queue creation and supervisor timers (see LaneHosting.maintain). */
  maintainLanes?: boolean;
  /**
   * Cache key lookups while a LISTEN connection hears every change to keys and apps. Off where the
   * process is frozen between requests (Lambda), which would let it serve a revoked key from the cache.
   */
  listenForChanges?: boolean;
  /** Told when a job was put in the DB lane ready to run now (see LaneHosting.onReadyJob). */
  onReadyJob?: () => void;
  /**
   * Make sure BOOTSTRAP_ADMIN_KEY exists (and, on the embedded default, print a development key):
   * done by the server at its start and by the migrate function, not by every Lambda cold start.
   */
  bootstrap?: { embedded: boolean };
}

export async function assembleSwitchyard(config: Config, connectionString: string, options: AssemblyOptions): Promise<SwitchyardParts> {
  const { log, cleanups } = options;
  for (const warning of config.warnings) log.warn(`warning: ${warning}`);
  const drain = new Drain();
  const pool = createPool(connectionString, { log, max: config.databasePoolMax, preparedStatements: config.preparedStatements });
  cleanups.push(() => pool.end());
  const metrics = new Metrics();
  metrics.watchPool(pool);
  metrics.watchQueues(() => readQueueStats(pool));
  // Closed after the lane has stopped (cleanups run in reverse), when no attempt is left in flight.
  const dispatcher = createGuardedDispatcher({ allowPrivate: config.allowPrivateTargets }, KEEP_ALIVE);
  cleanups.push(() => dispatcher.destroy());

  const hosting: LaneHosting = {
    pool: options.lanesOnServicePool ? pool : undefined,
    maintain: options.maintainLanes ?? true,
    onReadyJob: options.onReadyJob,
    keepSettledSeconds: Math.min(config.retention.completedSeconds ?? Infinity, config.retention.failedSeconds ?? Infinity),
  };
  const dbLane = await DbLane.start(connectionString, config.worker, (error) => log.error({ reason: error.message }, `db lane: ${error.message}`), hosting);
  cleanups.push(() => dbLane.stop(config.shutdownTimeoutMs));

  // Key lookups and signing secrets are cached while this listener hears every change to them;
  // with caching off (AUTH_CACHE_SECONDS=0) nothing would read it, so it holds no connection.
  const listen = (options.listenForChanges ?? true) && config.authCacheSeconds > 0;
  const changes = listen ? await ChangeListener.start(connectionString, log) : undefined;
  if (changes) cleanups.push(() => changes.stop());
  const box = config.secretsEncryption && new SecretBox(config.secretsEncryption.key, config.secretsEncryption.previousKeys);
  const appKeys = new AppKeys(pool, changes, config.authCacheSeconds, box);
  if (options.bootstrap) {
    await appKeys.sealAtRest(log);
    await appKeys.bootstrap({ bootstrapAdminKey: config.bootstrapAdminKey, embedded: options.bootstrap.embedded }, log);
  }
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
    config, pool, dbLane, executors, signingSecrets, notifier, drain, onStaleSettle, log, metrics, connectionString, hosting,
  }, cleanups);
  const jobs = new JobService({ config, pool, dbLane, executors, sqsJobs, scheduler, notifier, log, metrics, signingSecrets, drain });
  const scheduledMessages = new ScheduledMessages({
    pool, dbLane, executors, scheduler, notifier, defaultTimeoutMs: config.defaultTimeoutMs, signingSecrets, drain, onStaleSettle, log, metrics,
  });
  const jobAdmin = new JobAdmin({ config, pool, dbLane, scheduler, log });
  const jobIntake = new JobIntake({ config, pool, dbLane, executors, metrics });
  // Run by every process, so a run whose process died is resumed by another; stopped before the pool closes.
  const bulkActions = new BulkActions({ pool, jobAdmin, log, metrics });
  cleanups.push(() => bulkActions.stop());
  const pruner = new Pruner({ pool, retention: config.retention, log, metrics });
  cleanups.push(() => pruner.stop());
  const app = createApp({
    jobs, jobAdmin, bulkActions, jobIntake, sqsJobs, scheduledMessages, internalToken: config.internalToken, appKeys,
    createRateLimit: new CreateRateLimit(pool, config.createRateLimit), log,
    metrics, metricsToken: config.metricsToken, dashboard: { stats: new JobStats(pool), sessions: new DashboardSessions(pool) },
  });
  return { pool, aws, dbLane, sqsJobs, jobs, scheduledMessages, jobAdmin, jobIntake, bulkActions, pruner, metrics, drain, app };
}
