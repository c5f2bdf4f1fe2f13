// Issue 18's table health: do dead tuples and bloat stay bounded, and the execution rate flat, under a
// sustained run at the benchmark's rate? One service process (workers on, as deployed) creates and
// executes continuously against the loopback target for --minutes, on a copy of a table that already
// holds --prefill finished jobs (bench/scale-fill.ts: a table's autovacuum thresholds are fractions
// of its size, so an empty table says little about a deployment's). Every 10 s it samples `jobs`,
// `job_attempts` and pg-boss's job table: live and dead tuples, table and index size, autovacuum's
// passes, and bloat from pgstattuple_approx; and the rate, create p99 and the /metrics queue reading.
// Runs alternate between autovacuum settings (--runs), each on a fresh copy.
//
//   npm run bench:autovacuum                          (default,deployed twice, 5 minutes each, 2,000,000 prefilled)
//   npm run bench:autovacuum -- --runs=default,deployed --minutes=3 --prefill=0
//
// `default` resets every per-table setting (PostgreSQL's defaults); `deployed` keeps what the
// migrations and the DB lane set (migrations/0015_autovacuum.sql, LANE_TABLE_SETTINGS in
// src/lanes/db-lane.ts); any other name is one of CANDIDATES below.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { readQueueStats } from '../src/admin/job-stats-repository.ts';
import { QUEUES } from '../src/lanes/db-lane.ts';
import { OUTBOX_QUEUE } from '../src/sqs/sqs-outbox.ts';
import { cpuMeter } from './cpu.ts';
import { jsonClient, startBenchTarget } from './http.ts';
import { openBenchServer, type BenchServer } from './postgres.ts';
import { FULL_DATABASE, KEEP_THE_FILL_ENV, keptDirFor, prepareFilledDatabase } from './scale-fill.ts';
import { startServiceProcess } from './service-process.ts';
import { createBody } from './switchyard.ts';
import { latencyOf, median, until } from './stats.ts';

const args = process.argv.slice(2);
const value = (name: string) => args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
const MINUTES = Number(value('minutes') ?? 5);
const PREFILL = Number(value('prefill') ?? 2_000_000);
const RUNS = (value('runs') ?? 'default,deployed,default,deployed').split(',');
const SAMPLE_MS = 10_000;
const IN_FLIGHT = 16;
// One job in 50 calls a port where nothing listens, so it retries once a second later and is then
// dead-lettered: attempt history is written (job_attempts) and rows pass through `retrying`, as some do.
const FAILING_EVERY = 50;
const NOTHING_LISTENS = 'http://127.0.0.1:9';

/** Every per-table setting a run may change; `default` resets them all. */
const SETTING_NAMES = [
  'autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_threshold', 'autovacuum_vacuum_insert_scale_factor',
  'autovacuum_vacuum_insert_threshold', 'autovacuum_analyze_scale_factor', 'autovacuum_analyze_threshold',
  'autovacuum_vacuum_cost_delay', 'autovacuum_vacuum_cost_limit', 'fillfactor',
];

type TableSettings = Record<string, number>;
interface Candidate {
  jobs: TableSettings;
  job_attempts: TableSettings;
  /** pg-boss's job table(s) holding the lane's queues. */
  lane: TableSettings;
}

/** Settings measured on the way to the chosen ones (docs/performance.md, "Autovacuum"). */
const CANDIDATES: Record<string, Candidate> = {
  // Vacuum after a small fraction rather than a fifth of the table, without autovacuum's cost-based
  // sleeps; analyze as often, so the planner sees a backlog while it is there.
  small: {
    jobs: { autovacuum_vacuum_scale_factor: 0.01, autovacuum_vacuum_insert_scale_factor: 0.01, autovacuum_analyze_scale_factor: 0.01, autovacuum_vacuum_cost_delay: 0 },
    job_attempts: { autovacuum_vacuum_scale_factor: 0.05, autovacuum_vacuum_insert_scale_factor: 0.05, autovacuum_analyze_scale_factor: 0.05 },
    lane: { autovacuum_vacuum_scale_factor: 0.02, autovacuum_vacuum_threshold: 1000, autovacuum_analyze_scale_factor: 0.02, autovacuum_vacuum_cost_delay: 0 },
  },
  // As small, but jobs at 2% and with autovacuum's default cost-based sleeps: fewer, gentler passes
  // over its many indexes, which on 2 cores took CPU from the jobs; job_attempts left at the defaults.
  moderate: {
    jobs: { autovacuum_vacuum_scale_factor: 0.02, autovacuum_vacuum_insert_scale_factor: 0.02, autovacuum_analyze_scale_factor: 0.02 },
    job_attempts: {},
    lane: { autovacuum_vacuum_scale_factor: 0.02, autovacuum_vacuum_threshold: 1000, autovacuum_analyze_scale_factor: 0.02, autovacuum_vacuum_cost_delay: 0 },
  },
};

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

async function laneTables(db: pg.Pool): Promise<string[]> {
  const { rows } = await db.query(`SELECT DISTINCT 'pgboss.' || table_name AS name FROM pgboss.queue WHERE name = ANY($1) ORDER BY 1`, [[...QUEUES, OUTBOX_QUEUE]]);
  return rows.map((row: { name: string }) => row.name);
}

/** Puts a run's settings on the tables (after the service started, which applies the deployed ones). */
async function applySettings(db: pg.Pool, run: string, lane: string[]): Promise<void> {
  if (run === 'deployed') return;
  const candidate = run === 'default' ? { jobs: {}, job_attempts: {}, lane: {} } : CANDIDATES[run];
  if (!candidate) throw new Error(`no settings named ${run}: use default, deployed or one of ${Object.keys(CANDIDATES).join(', ')}`);
  const tables: [string, TableSettings][] = [['jobs', candidate.jobs], ['job_attempts', candidate.job_attempts], ...lane.map((table): [string, TableSettings] => [table, candidate.lane])];
  for (const [table, settings] of tables) {
    await db.query(`ALTER TABLE ${table} RESET (${SETTING_NAMES.join(', ')})`);
    const entries = Object.entries(settings);
    if (entries.length) await db.query(`ALTER TABLE ${table} SET (${entries.map(([name, v]) => `${name} = ${v}`).join(', ')})`);
  }
}

interface TableSample {
  live: number;
  dead: number;
  /** Dead tuples as a share of all tuples, %. */
  deadPct: number;
  heapMb: number;
  indexMb: number;
  /** What pgstattuple_approx finds that is not live tuples (dead tuples and free space), % of the table. */
  bloatPct: number;
  autovacuums: number;
  autoanalyzes: number;
}

interface Sample {
  seconds: number;
  createdPerSecond: number;
  completedPerSecond: number;
  backlog: number;
  createP99: number;
  queueStatsMs: number;
  tables: Record<string, TableSample>;
}

async function sampleTables(db: pg.Pool, tables: string[]): Promise<Record<string, TableSample>> {
  const out: Record<string, TableSample> = {};
  for (const table of tables) {
    const { rows: [row] } = await db.query(
      // Live tuples as pgstattuple_approx counts them: a database copied from a template starts with
      // its statistics counters at zero. Dead ones as autovacuum counts them (since the copy).
      `SELECT a.approx_tuple_count::float8 AS live, s.n_dead_tup::float8 AS dead, s.autovacuum_count::int AS autovacuums, s.autoanalyze_count::int AS autoanalyzes,
              pg_table_size(s.relid) / 1048576.0::float8 AS heap_mb, pg_indexes_size(s.relid) / 1048576.0::float8 AS index_mb,
              (100 - a.approx_tuple_percent)::float8 AS bloat_pct
         FROM pg_stat_user_tables s, pgstattuple_approx(s.relid) a
        WHERE s.relid = $1::regclass`,
      [table],
    );
    out[table] = {
      live: row.live, dead: row.dead, deadPct: row.live + row.dead > 0 ? (100 * row.dead) / (row.live + row.dead) : 0,
      heapMb: row.heap_mb, indexMb: row.index_mb, bloatPct: row.bloat_pct, autovacuums: row.autovacuums, autoanalyzes: row.autoanalyzes,
    };
  }
  return out;
}

interface RunResult {
  run: string;
  samples: Sample[];
  created: number;
  cpu: { process: number; postgres: number | null };
  /** pgstatindex of each index at the end: leaf density %, by index. */
  leafDensity: Record<string, number>;
}

async function sustainedRun(server: BenchServer, target: Awaited<ReturnType<typeof startBenchTarget>>, run: string): Promise<RunResult> {
  const databaseUrl = await server.createDatabase('autovacuum', PREFILL > 0 ? FULL_DATABASE : undefined);
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const service = await startServiceProcess(databaseUrl, { ...KEEP_THE_FILL_ENV, RUN_WORKERS: 'true' });
  const client = jsonClient(service.url, IN_FLIGHT);
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS pgstattuple');
    const lane = await laneTables(db);
    const tables = ['jobs', 'job_attempts', ...lane];
    await applySettings(db, run, lane);
    const { rows: options } = await db.query(`SELECT c.oid::regclass::text AS table, c.reloptions FROM pg_class c WHERE c.oid = ANY($1::regclass[])`, [tables]);
    log(`${run}: ${options.map((o) => `${o.table} ${o.reloptions ? o.reloptions.join(' ') : '(defaults)'}`).join('; ')}`);
    target.reset();
    const meter = cpuMeter(service.pid, server.postmasterPid, false);
    const started = performance.now();
    const stopAt = started + MINUTES * 60_000;
    let created = 0;
    let latencies: number[] = [];
    const load = Promise.all(Array.from({ length: IN_FLIGHT }, async (_, worker) => {
      for (let i = worker; performance.now() < stopAt; i += IN_FLIGHT) {
        const sent = performance.now();
        const body = i % FAILING_EVERY === 0
          ? { ...createBody(NOTHING_LISTENS, i), retry: { maxAttempts: 2, baseDelaySeconds: 1 } }
          : createBody(target.url, i);
        const response = await client.post('/v1/jobs/create', body);
        if (response.status !== 202) throw new Error(`create answered ${response.status}`);
        latencies.push(performance.now() - sent);
        created++;
      }
    }));
    const samples: Sample[] = [];
    // Interval bounds come from the database's clock, the one completed_at is written with.
    const clock = async () => (await db.query('SELECT clock_timestamp() AS at')).rows[0].at as Date;
    let last = { at: await clock(), created: 0 };
    const takeSample = async () => {
      const at = await clock();
      const seconds = (at.getTime() - last.at.getTime()) / 1000;
      const createdNow = created;
      const { rows: [done] } = await db.query(
        `SELECT count(*)::int AS n FROM jobs WHERE completed_at > $1 AND completed_at <= $2 AND app_id = 'bench'`, [last.at, at]);
      const { rows: [waiting] } = await db.query(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('pending', 'running') AND app_id = 'bench'`);
      const queueStarted = performance.now();
      await readQueueStats(db);
      const queueStatsMs = performance.now() - queueStarted;
      samples.push({
        seconds: Math.round((performance.now() - started) / 1000),
        createdPerSecond: Math.round((createdNow - last.created) / seconds),
        completedPerSecond: Math.round(done.n / seconds),
        backlog: waiting.n,
        createP99: latencyOf(latencies).p99,
        queueStatsMs,
        tables: await sampleTables(db, tables),
      });
      latencies = [];
      last = { at, created: createdNow };
    };
    // One sample at a time, every SAMPLE_MS from the start of the last: a slow one delays the next
    // rather than overlapping it.
    let loading = true;
    const sampler = (async () => {
      while (loading) {
        const next = performance.now() + SAMPLE_MS;
        while (loading && performance.now() < next) await new Promise((resolve) => setTimeout(resolve, 200));
        if (loading) await takeSample();
      }
    })();
    try {
      await load;
    } finally {
      loading = false;
      await sampler;
    }
    await until(async () => (await db.query(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('pending', 'running', 'retrying') AND app_id = 'bench'`)).rows[0].n === 0,
      300_000, 'the last jobs to run', 1_000);
    const cpu = meter.perJob(created);
    await takeSample();
    const leafDensity: Record<string, number> = {};
    const { rows: indexes } = await db.query(`SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = ANY($1::regclass[])`, [tables]);
    for (const { name } of indexes) {
      leafDensity[name] = (await db.query(`SELECT avg_leaf_density::float8 AS d FROM pgstatindex($1)`, [name])).rows[0].d;
    }
    return { run, samples, created, cpu: { process: cpu.process, postgres: cpu.postgres }, leafDensity };
  } finally {
    client.close();
    await service.stop();
    await db.end();
  }
}

const fmt = (n: number, digits = 0) => n.toFixed(digits);

function printRun(result: RunResult): void {
  const tables = Object.keys(result.samples[0]!.tables);
  console.log(`\n${result.run}: ${result.created.toLocaleString('en')} jobs created and run in ${MINUTES} min; CPU per job: service ${result.cpu.process} µs, postgres ${result.cpu.postgres} µs`);
  const header = ['s', 'created/s', 'done/s', 'backlog', 'create p99', 'queue stats ms', ...tables.flatMap((t) => [`${t} live`, 'dead', 'dead%', 'heap MB', 'idx MB', 'bloat%', 'av'])];
  const rows = result.samples.map((s) => [String(s.seconds), String(s.createdPerSecond), String(s.completedPerSecond), String(s.backlog), fmt(s.createP99, 1), fmt(s.queueStatsMs, 1),
    ...tables.flatMap((t) => {
      const x = s.tables[t]!;
      return [fmt(x.live), fmt(x.dead), fmt(x.deadPct, 1), fmt(x.heapMb), fmt(x.indexMb), fmt(x.bloatPct, 1), String(x.autovacuums)];
    })]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const line of [header, ...rows]) console.log(line.map((cell, i) => cell.padStart(widths[i]!)).join(' '));
  const densities = Object.entries(result.leafDensity).filter(([, d]) => Number.isFinite(d));
  console.log(`  leaf density at the end (pgstatindex, indexes with leaf pages): ${densities.map(([name, d]) => `${name} ${fmt(d)}%`).join(', ')}`);
}

/** One line per run: what stayed flat and what grew, the first minute against the last. */
function summarise(result: RunResult) {
  const during = result.samples.slice(0, -1);
  const firstMinute = during.filter((s) => s.seconds <= 60);
  const lastMinute = during.filter((s) => s.seconds > MINUTES * 60 - 60);
  const end = result.samples.at(-1)!;
  const perTable = Object.fromEntries(Object.keys(end.tables).map((t) => {
    const series = during.map((s) => s.tables[t]!);
    return [t, {
      maxDead: Math.max(...series.map((x) => x.dead)),
      maxDeadPct: Math.round(Math.max(...series.map((x) => x.deadPct)) * 10) / 10,
      maxBloatPct: Math.round(Math.max(...series.map((x) => x.bloatPct)) * 10) / 10,
      endBloatPct: Math.round(end.tables[t]!.bloatPct * 10) / 10,
      endHeapMb: Math.round(end.tables[t]!.heapMb),
      endIndexMb: Math.round(end.tables[t]!.indexMb),
      heapBytesPerLiveRow: Math.round((end.tables[t]!.heapMb * 1048576) / Math.max(1, end.tables[t]!.live)),
      autovacuums: end.tables[t]!.autovacuums,
      autoanalyzes: end.tables[t]!.autoanalyzes,
    }];
  }));
  return {
    run: result.run,
    created: result.created,
    cpu: result.cpu,
    donePerSecondFirstMinute: median(firstMinute.map((s) => s.completedPerSecond)),
    donePerSecondLastMinute: median(lastMinute.map((s) => s.completedPerSecond)),
    createP99FirstMinute: median(firstMinute.map((s) => s.createP99)),
    createP99LastMinute: median(lastMinute.map((s) => s.createP99)),
    queueStatsMsFirstMinute: Math.round(median(firstMinute.map((s) => s.queueStatsMs)) * 10) / 10,
    queueStatsMsLastMinute: Math.round(median(lastMinute.map((s) => s.queueStatsMs)) * 10) / 10,
    tables: perTable,
  };
}

const keptDir = PREFILL > 0 ? keptDirFor(PREFILL) : undefined;
const server = await openBenchServer(false, { keptDir });
const target = await startBenchTarget();
try {
  if (keptDir) await prepareFilledDatabase(server, target, keptDir, PREFILL, { maxAgeHours: 12, refill: args.includes('--refill') }, log);
  const summaries = [];
  for (const run of RUNS) {
    const result = await sustainedRun(server, target, run);
    printRun(result);
    summaries.push(summarise(result));
  }
  console.log('\nsummary (first minute against last minute of each run):');
  for (const s of summaries) console.log(JSON.stringify(s));
} finally {
  await target.close();
  await server.close();
}
