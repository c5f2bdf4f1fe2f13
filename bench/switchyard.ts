// The Switchyard figures, measured over HTTP against src/main.ts running as its own process.
import pg from 'pg';
import type { BenchServer } from './postgres.ts';
import { cpuMeter, type CpuPerJob } from './cpu.ts';
import { jsonClient, type BenchTarget } from './http.ts';
import { startServiceProcess } from './service-process.ts';
import { atRate, latencyOf, perSecond, runWithConcurrency, until, POLL_MS, type Latency } from './stats.ts';

export interface SwitchyardInput {
  server: BenchServer;
  target: BenchTarget;
  creates: number;
  createInFlight: number;
  batchRequests: number;
  batchSize: number;
  latencyJobs: number;
  latencyRate: number;
  /** Extra service environment (WORKER_BATCH_SIZE, …) and node flags (--cpu-prof, …). */
  serviceEnv: Record<string, string>;
  nodeArgs: string[];
}

export interface SwitchyardResult {
  createPerSecond: number;
  /** A number, or why the figure could not be taken. */
  batchPerSecond: number | string;
  executePerSecond: number;
  executed: number;
  latency: Latency;
  peakRssMb: number;
  /** Peak RSS of each service process: creating, executing, latency, batch. */
  peakRssByPhaseMb: Record<string, number>;
  /** CPU per job while creating one job per request, 1,000 per request, and while executing. */
  createCpu: CpuPerJob;
  batchCpu: CpuPerJob | null;
  executeCpu: CpuPerJob;
}

export function createBody(targetUrl: string, index: number) {
  return {
    appId: 'bench',
    mode: 'db',
    message: {
      lambdaProxyMessage: {
        httpMethod: 'POST',
        path: '/hook',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ index }),
      },
      execution: { type: 'rest-api', baseUrl: targetUrl },
      metadata: { bench: true },
    },
  };
}

/** Creates `count` jobs one per request, `inFlight` at once, and returns jobs/s. */
async function createMany(baseUrl: string, targetUrl: string, count: number, inFlight: number): Promise<number> {
  const client = jsonClient(baseUrl, inFlight);
  try {
    const started = performance.now();
    await runWithConcurrency(count, inFlight, async (index) => {
      const response = await client.post('/v1/jobs/create', createBody(targetUrl, index));
      if (response.status !== 202) throw new Error(`create answered ${response.status}: ${JSON.stringify(response.body)}`);
    });
    return perSecond(count, performance.now() - started);
  } finally {
    client.close();
  }
}

async function count(pool: pg.Pool, sql: string): Promise<number> {
  return (await pool.query(sql)).rows[0].n;
}

/**
 * Ingest, then execution, on one database: the jobs are created with the workers off,
 * so the execution figure is the rate at which a service started on a full table drains it.
 */
async function ingestExecute(input: SwitchyardInput) {
  const { target } = input;
  const databaseUrl = await input.server.createDatabase('switchyard_bench');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    const ingest = await startServiceProcess(databaseUrl, { ...input.serviceEnv, RUN_WORKERS: 'false' }, input.nodeArgs);
    let createPerSecond: number;
    let ingestRss: number;
    let createCpu: CpuPerJob;
    try {
      const meter = cpuMeter(ingest.pid, input.server.postmasterPid, true);
      createPerSecond = await createMany(ingest.url, target.url, input.creates, input.createInFlight);
      createCpu = meter.perJob(input.creates);
      ingestRss = ingest.peakRssMb();
    } finally {
      await ingest.stop();
    }

    target.reset();
    const worker = await startServiceProcess(databaseUrl, { ...input.serviceEnv, RUN_WORKERS: 'true' }, input.nodeArgs);
    try {
      const meter = cpuMeter(worker.pid, input.server.postmasterPid, true);
      await until(async () => (await count(pool, `SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`)) >= input.creates,
        600_000, `all ${input.creates} jobs to complete`, POLL_MS);
      const executeCpu = meter.perJob(input.creates);
      const { rows } = await pool.query(
        `SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed, count(*)::int AS total,
                (extract(epoch FROM max(completed_at)) * 1000)::float8 AS last_ms FROM jobs`,
      );
      const { completed, total, last_ms: lastMs } = rows[0];
      if (completed !== total || target.firstArrival.size !== total) {
        throw new Error(`execution incomplete: ${completed} of ${total} completed, ${target.firstArrival.size} reached the target`);
      }
      const executePerSecond = perSecond(completed, lastMs - target.firstAt()!);

      return { createPerSecond, executePerSecond, executed: completed as number, executeCpu, createCpu, ingestRss, executeRss: worker.peakRssMb() };
    } finally {
      await worker.stop();
    }
  } finally {
    await pool.end();
  }
}

/**
 * Latency, on a service of its own so its profile and memory are apart from the execution run:
 * creates at a steady rate while the workers idle, each timed from the 202 arriving here to the
 * target receiving the call. A call that arrives before the 202 counts as 0 ms.
 */
const LATENCY_WARMUP_JOBS = 50;

async function latency(input: SwitchyardInput): Promise<{ latency: Latency; peakRssMb: number }> {
  const { target } = input;
  const databaseUrl = await input.server.createDatabase('switchyard_latency');
  const worker = await startServiceProcess(databaseUrl, { ...input.serviceEnv, RUN_WORKERS: 'true' }, input.nodeArgs);
  try {
    const client = jsonClient(worker.url, 4);
    // Warm up first, uncounted: a fresh process compiles its hot paths and opens its connections
    // (to PostgreSQL and to the target) on its first jobs, while the pg-boss side is measured in a
    // process that has already run its other phases.
    const warmed: string[] = [];
    await atRate(LATENCY_WARMUP_JOBS, input.latencyRate, async (index) => {
      const response = await client.post('/v1/jobs/create', createBody(target.url, index));
      if (response.status !== 202) throw new Error(`create answered ${response.status}`);
      warmed.push(response.body.id);
    });
    await until(async () => warmed.every((id) => target.firstArrival.has(id)), 30_000, 'warm-up jobs to reach the target');
    target.reset();
    const acceptedAt = new Map<string, number>();
    await atRate(input.latencyJobs, input.latencyRate, async (index) => {
      const response = await client.post('/v1/jobs/create', createBody(target.url, index));
      if (response.status !== 202) throw new Error(`create answered ${response.status}`);
      acceptedAt.set(response.body.id, performance.now());
    });
    client.close();
    await until(async () => [...acceptedAt.keys()].every((id) => target.firstArrival.has(id)), 30_000, 'latency jobs to reach the target');
    return {
      latency: latencyOf([...acceptedAt].map(([id, accepted]) => Math.max(0, target.firstArrival.get(id)! - accepted))),
      peakRssMb: worker.peakRssMb(),
    };
  } finally {
    await worker.stop();
  }
}

/** The batch body as /v1/jobs/batch takes it. */
function batchBody(items: unknown[]) {
  return { jobs: items };
}

async function batchIngest(input: SwitchyardInput): Promise<{ perSecond: number | string; cpu: CpuPerJob | null; peakRssMb: number }> {
  const databaseUrl = await input.server.createDatabase('switchyard_batch');
  const service = await startServiceProcess(databaseUrl, { ...input.serviceEnv, RUN_WORKERS: 'false' }, input.nodeArgs);
  const client = jsonClient(service.url, 1);
  try {
    const body = () => batchBody(Array.from({ length: input.batchSize }, (_, index) => createBody(input.target.url, index)));
    const probe = await client.post('/v1/jobs/batch', body());
    if (probe.status === 404) return { perSecond: 'n/a: route missing (404)', cpu: null, peakRssMb: service.peakRssMb() };
    if (probe.status < 200 || probe.status > 299) {
      return { perSecond: `n/a: batch answered ${probe.status} ${JSON.stringify(probe.body).slice(0, 200)}`, cpu: null, peakRssMb: service.peakRssMb() };
    }
    const meter = cpuMeter(service.pid, input.server.postmasterPid, true);
    const started = performance.now();
    for (let i = 0; i < input.batchRequests; i++) {
      const response = await client.post('/v1/jobs/batch', body());
      if (response.status < 200 || response.status > 299) throw new Error(`batch answered ${response.status}`);
    }
    const jobs = input.batchRequests * input.batchSize;
    return { perSecond: perSecond(jobs, performance.now() - started), cpu: meter.perJob(jobs), peakRssMb: service.peakRssMb() };
  } finally {
    client.close();
    await service.stop();
  }
}

/**
 * A start reads its sources, types already stripped, from Node's compile cache (src/compile-cache.js);
 * only the first start after a change strips them, and that process keeps the type stripper's memory.
 * One start and stop before measuring fills the cache, so each measured process starts as every
 * start but that first one does.
 */
async function fillCompileCache(input: SwitchyardInput): Promise<void> {
  const service = await startServiceProcess(await input.server.createDatabase('switchyard_warmup'), { ...input.serviceEnv, RUN_WORKERS: 'false' }, input.nodeArgs);
  await service.stop();
}

export async function benchSwitchyard(input: SwitchyardInput): Promise<SwitchyardResult> {
  await fillCompileCache(input);
  const main = await ingestExecute(input);
  const timing = await latency(input);
  const batch = await batchIngest(input);
  return {
    createPerSecond: main.createPerSecond,
    batchPerSecond: batch.perSecond,
    executePerSecond: main.executePerSecond,
    executed: main.executed,
    latency: timing.latency,
    peakRssMb: Math.round(Math.max(main.ingestRss, main.executeRss, timing.peakRssMb, batch.peakRssMb)),
    peakRssByPhaseMb: {
      create: Math.round(main.ingestRss),
      execute: Math.round(main.executeRss),
      latency: Math.round(timing.peakRssMb),
      batch: Math.round(batch.peakRssMb),
    },
    createCpu: main.createCpu,
    batchCpu: batch.cpu,
    executeCpu: main.executeCpu,
  };
}
