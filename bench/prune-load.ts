// Issue 18's pruning figure: create latency and the execution rate while the pruner deletes
// 1,000,000 expired finished jobs, against the same run with nothing being pruned. Each round copies
// one filled database (bench/scale-fill.ts: finished jobs spread over 30 days, all past the
// retention used here) and runs bench/backlog.ts's measureCreateAndExecute on it: creates one at a
// time (latency), then `due` more, then a service with workers executes them. In the pruning rounds
// the pruner (src/retention/pruner.ts, with its production batch size and pauses) starts just before
// the first create and runs until the execution is over; it runs in this process, as another
// instance's pruner would, and its statements land on the same PostgreSQL as the service's. Rounds
// alternate (without, with, without, with, …) so the machine's load drifts across both.
//
//   npm run bench:prune                      (1,000,000 rows, 3 rounds each: the medians are real ones)
//   npm run bench:prune -- --rows=200000 --rounds=1 --due=5000
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { RetentionSettings } from '../src/config/config.ts';
import { silentLogger } from '../src/ops/log.ts';
import type { Metrics } from '../src/ops/metrics.ts';
import { Pruner, type PruneResult } from '../src/retention/pruner.ts';
import { measureCreateAndExecute, type CreateExecuteResult } from './backlog.ts';
import { startBenchTarget } from './http.ts';
import { openBenchServer, withClient } from './postgres.ts';
import { fillFinishedJobs } from './scale-fill.ts';
import { latencyOf, median, type Latency } from './stats.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const ROWS = option('rows', 1_000_000);
const ROUNDS = option('rounds', 3);
const DUE = option('due', 20_000);
const FILLED = 'prune_filled';
// Every filled row finished at least a few seconds before the copy is made, so a minute's retention
// (the shortest allowed) with the fill's 30-day spread leaves almost all of them expired.
const RETENTION: RetentionSettings = { completedSeconds: 60, failedSeconds: 60, intervalSeconds: 0, batchSize: 1_000 };
// The service's own pruner stays off in both kinds of round; only the measured one runs.
const SERVICE_ENV = { PRUNE_INTERVAL_SECONDS: '0' };

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

interface Round {
  pruning: boolean;
  result: CreateExecuteResult;
  /** What the pruner had deleted when the execution ended, and whether it had already run out of rows. */
  pruned?: { jobs: number; done: boolean; batches: number; batchMs: Latency };
  expiredAtStart: number;
}

const server = await openBenchServer(false);
const target = await startBenchTarget();
try {
  const started = performance.now();
  const marker = await fillFinishedJobs(server, target, FILLED, ROWS, log);
  log(`filled ${(marker.counts.jobs ?? 0).toLocaleString('en')} finished jobs in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  // Older than the retention by the time a round starts.
  await new Promise((resolve) => setTimeout(resolve, (RETENTION.completedSeconds! + 5) * 1000));
  const rounds: Round[] = [];
  for (let round = 0; round < ROUNDS * 2; round++) {
    const pruning = round % 2 === 1;
    const name = `prune_round_${round}`;
    await withClient(server.urlOf('postgres'), async (db) => {
      await db.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await db.query(`CREATE DATABASE ${name} TEMPLATE ${FILLED}`);
    });
    const url = server.urlOf(name);
    const expiredAtStart = await withClient(url, async (db) => {
      await db.query('VACUUM ANALYZE jobs');
      return (await db.query(`SELECT count(*)::int AS n FROM jobs WHERE updated_at < now() - interval '60 seconds'`)).rows[0].n as number;
    });
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    // How long each statement ran (and held its row locks), through the pruner's metric hook.
    const batchMs: number[] = [];
    const metrics = { pruned: (_counts: unknown, seconds: number) => batchMs.push(seconds * 1000), pruneRun: () => {} } as unknown as Metrics;
    const pruner = new Pruner({ pool, retention: RETENTION, log: silentLogger, metrics });
    let running: Promise<PruneResult> | undefined;
    log(`round ${round + 1}/${ROUNDS * 2}: ${pruning ? 'pruning' : 'not pruning'}, ${expiredAtStart.toLocaleString('en')} expired rows`);
    let result: CreateExecuteResult;
    const beforePrune = pruning ? Date.now() : 0;
    try {
      result = await measureCreateAndExecute(server, target, url, DUE, {
        serviceEnv: SERVICE_ENV,
        beforeCreates: async () => {
          if (pruning) running = pruner.run();
        },
      });
    } finally {
      await pruner.stop();
    }
    let pruned: Round['pruned'];
    if (running) {
      const outcome = await running;
      const jobs = Object.values(outcome.jobs).reduce((sum, n) => sum + n, 0);
      pruned = { jobs, done: outcome.done, batches: outcome.batches, batchMs: latencyOf(batchMs) };
      log(`  pruner deleted ${jobs.toLocaleString('en')} jobs in ${outcome.batches} batches (statement p50/p99 ${pruned.batchMs.p50}/${pruned.batchMs.p99} ms) over ${((Date.now() - beforePrune) / 1000).toFixed(1)} s${outcome.done ? ' and ran out of rows before the end (the figure then understates pruning)' : ', still pruning when the execution ended'}`);
    }
    await pool.end();
    const cpu = result.executeCpu;
    log(`  execution ${result.executePerSecond.toLocaleString('en')} jobs/s (CPU per job: service ${cpu.process}, postgres ${cpu.postgres} µs), create p50/p95/p99 ${result.createLatency.p50}/${result.createLatency.p95}/${result.createLatency.p99} ms`);
    rounds.push({ pruning, result, pruned, expiredAtStart });
    await withClient(server.urlOf('postgres'), (db) => db.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
  const of = (pruning: boolean) => rounds.filter((round) => round.pruning === pruning);
  const summary = (pruning: boolean) => {
    const execute = of(pruning).map((round) => round.result.executePerSecond);
    const p50 = of(pruning).map((round) => round.result.createLatency.p50);
    const p99 = of(pruning).map((round) => round.result.createLatency.p99);
    const postgres = of(pruning).map((round) => round.result.executeCpu.postgres ?? NaN);
    const service = of(pruning).map((round) => round.result.executeCpu.process);
    log(`${pruning ? 'pruning' : 'not pruning'}, each round: execution ${execute.join(', ')} jobs/s; create p50 ${p50.join(', ')} ms; p99 ${p99.join(', ')} ms; CPU per executed job: service ${service.join(', ')}, postgres ${postgres.join(', ')} µs`);
    return { execute: median(execute), p50: median(p50), p99: median(p99), service: median(service), postgres: median(postgres) };
  };
  const without = summary(false);
  const withPruning = summary(true);
  console.log('\nmedians of the rounds:\n| figure | not pruning | pruning | ratio |\n|---|---|---|---|');
  console.log(`| execution (jobs/s) | ${without.execute.toLocaleString('en')} | ${withPruning.execute.toLocaleString('en')} | ${(withPruning.execute / without.execute).toFixed(2)} |`);
  console.log(`| create p50 (ms) | ${without.p50} | ${withPruning.p50} | ${(withPruning.p50 / without.p50).toFixed(2)} |`);
  console.log(`| create p99 (ms) | ${without.p99} | ${withPruning.p99} | ${(withPruning.p99 / without.p99).toFixed(2)} |`);
  console.log(`| CPU per executed job: service (µs) | ${without.service} | ${withPruning.service} | ${(withPruning.service / without.service).toFixed(2)} |`);
  console.log(`| CPU per executed job: postgres, the pruner's backend included (µs) | ${without.postgres} | ${withPruning.postgres} | ${(withPruning.postgres / without.postgres).toFixed(2)} |`);
  console.log(JSON.stringify({ rows: ROWS, due: DUE, rounds }));
} finally {
  await target.close();
  await server.close();
}
