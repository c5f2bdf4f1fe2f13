// How cost grows: the same execution and create-latency measurements with N jobs already waiting.
// The waiting jobs are real Switchyard jobs (a jobs row and a pg-boss job each) delayed a year, so
// they sit in both tables and their indexes without being due.
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { BenchServer } from './postgres.ts';
import { cpuMeter, type CpuPerJob } from './cpu.ts';
import { jsonClient, type BenchTarget } from './http.ts';
import { startServiceProcess } from './service-process.ts';
import { createBody } from './switchyard.ts';
import { latencyOf, perSecond, runWithConcurrency, until, POLL_MS, type Latency } from './stats.ts';

export interface BacklogResult {
  waiting: number;
  executePerSecond: number;
  executeCpu: CpuPerJob;
  createLatency: Latency;
}

const FILL_CHUNK = 10_000;
const LATENCY_CREATES = 300;

async function fillBacklog(databaseUrl: string, targetUrl: string, waiting: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const boss = new PgBoss({ connectionString: databaseUrl, schema: 'pgboss', supervise: false, schedule: false, migrate: false });
  boss.on('error', () => {});
  await boss.start();
  try {
    const later = new Date(Date.now() + 365 * 24 * 3600 * 1000);
    const example = createBody(targetUrl, 0).message;
    for (let done = 0; done < waiting; done += FILL_CHUNK) {
      const count = Math.min(FILL_CHUNK, waiting - done);
      const { rows } = await pool.query(
        `INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, metadata,
                           status, max_attempts, retry_policy, run_at)
         SELECT gen_random_uuid(), 'backlog', 'db', 'rest-api', $1::jsonb, $2::jsonb, '{}', 'pending', 5,
                '{"baseDelaySeconds":60,"maxDelaySeconds":86400}', $3
           FROM generate_series(1, $4) RETURNING id`,
        [example.lambdaProxyMessage, example.execution, later, count],
      );
      await boss.insert('switchyard-jobs', rows.map(({ id }) => ({
        id, data: {}, startAfter: later, expireInSeconds: 40, retryLimit: 5, retryDelay: 60, retryBackoff: true, retryDelayMax: 86_400,
      })));
    }
    await pool.query('VACUUM ANALYZE');
  } finally {
    await boss.stop({ graceful: false, close: true });
    await pool.end();
  }
}

export interface CreateExecuteResult {
  executePerSecond: number;
  executeCpu: CpuPerJob;
  createLatency: Latency;
  /** The `due` creates at 16 in flight: their rate, and the CPU each cost the service and PostgreSQL. */
  createPerSecond: number;
  createCpu: CpuPerJob;
}

export interface CreateExecuteOptions {
  /** Creates timed one at a time before the due jobs are made. */
  latencyCreates?: number;
  /** Runs once the service with workers off has started (and migrated), before anything is created. */
  beforeCreates?: () => Promise<void>;
  /** Runs after every job is created and before the workers start: the jobs are all due and unclaimed. */
  afterCreates?: () => Promise<void>;
  /** Extra service environment for both service processes. */
  serviceEnv?: Record<string, string>;
  /** Jobs of the bench's app already created and waiting, which the workers run with these (counted in the rate). */
  alreadyCreated?: number;
  /** The create request of the n-th job (n distinct across the run); the bench's small job (createBody) unless given. */
  body?: (targetUrl: string, n: number) => object;
}

/**
 * On a database that may already hold anything: `latencyCreates` creates one at a time (create
 * latency), then `due` more at 16 in flight with the workers off, then a service with workers
 * executes them all. Only the bench's own app ('bench', see createBody) is counted, so whatever
 * else the table holds is neither counted nor scanned by the polls.
 */
export async function measureCreateAndExecute(server: BenchServer, target: BenchTarget, databaseUrl: string, due: number, options: CreateExecuteOptions = {}): Promise<CreateExecuteResult> {
  const latencyCreates = options.latencyCreates ?? LATENCY_CREATES;
  const env = options.serviceEnv ?? {};
  const body = options.body ?? createBody;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    const ingest = await startServiceProcess(databaseUrl, { ...env, RUN_WORKERS: 'false' });
    let createLatency: Latency;
    let createPerSecond: number;
    let createCpu: CpuPerJob;
    try {
      await options.beforeCreates?.();
      const client = jsonClient(ingest.url, 16);
      // One create at a time, so each sample is the create's own latency, not queueing behind others.
      const samples: number[] = [];
      for (let i = 0; i < latencyCreates; i++) {
        const started = performance.now();
        const response = await client.post('/v1/jobs/create', body(target.url, i));
        if (response.status !== 202) throw new Error(`create answered ${response.status}`);
        samples.push(performance.now() - started);
      }
      createLatency = latencyOf(samples);
      const createMeter = cpuMeter(ingest.pid, server.postmasterPid, true);
      const createsStarted = performance.now();
      await runWithConcurrency(due, 16, async (index) => {
        const response = await client.post('/v1/jobs/create', body(target.url, latencyCreates + index));
        if (response.status !== 202) throw new Error(`create answered ${response.status}`);
      });
      createPerSecond = perSecond(due, performance.now() - createsStarted);
      createCpu = createMeter.perJob(due);
      client.close();
      await options.afterCreates?.();
    } finally {
      await ingest.stop();
    }
    const total = due + latencyCreates + (options.alreadyCreated ?? 0);
    target.reset();
    const worker = await startServiceProcess(databaseUrl, { ...env, RUN_WORKERS: 'true' });
    let executeCpu: CpuPerJob;
    try {
      const meter = cpuMeter(worker.pid, server.postmasterPid, true);
      // The target sees each job arrive, at no cost to the database; only then are the rows counted,
      // a few times at most (on a table of millions, each count is a query of its own to measure).
      await until(async () => target.firstArrival.size >= total, 600_000, `${total} due jobs to reach the target`, POLL_MS);
      await until(async () => (await pool.query(`SELECT count(*)::int AS n FROM jobs WHERE app_id = 'bench' AND status = 'completed'`)).rows[0].n >= total,
        60_000, `${total} due jobs to complete`, POLL_MS);
      executeCpu = meter.perJob(total);
    } finally {
      await worker.stop();
    }
    const { rows } = await pool.query(`SELECT (extract(epoch FROM max(completed_at)) * 1000)::float8 AS last_ms FROM jobs WHERE app_id = 'bench' AND status = 'completed'`);
    return { executePerSecond: perSecond(total, rows[0].last_ms - target.firstAt()!), executeCpu, createLatency, createPerSecond, createCpu };
  } finally {
    await pool.end();
  }
}

export async function benchBacklog(server: BenchServer, target: BenchTarget, waiting: number, due: number): Promise<BacklogResult> {
  const databaseUrl = await server.createDatabase('switchyard_backlog');
  const result = await measureCreateAndExecute(server, target, databaseUrl, due, { beforeCreates: () => fillBacklog(databaseUrl, target.url, waiting) });
  return { waiting, ...result };
}
