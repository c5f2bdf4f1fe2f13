// Issue 18's scale check: does anything on the hot path or the operator's side slow down when `jobs`
// holds a month of finished jobs? The same measurements on an empty database and on one holding N
// finished jobs (bench/scale-fill.ts), interleaved (empty, full, empty, full, …) on one embedded
// server, each figure reported as the median of its rounds with the spread, and the ratio full/empty.
// Then EXPLAIN (ANALYZE, BUFFERS) on the full table of the statements that matter.
//
//   npm run bench:scale                                  (10,000,000 rows; the first run fills them)
//   npm run bench:scale -- --rows=1000000 --rounds=3 --due=10000
//   npm run bench:scale -- --refill                       (fill again even if a kept fill is there)
//   npm run bench:scale -- --statements                   (also the execution's top statements in the last rounds)
//   npm run bench:scale -- --shared-buffers=4GB           (the server's shared_buffers; PostgreSQL's 128 MB by default)
//
// The filled server is kept in $TMPDIR/switchyard-scale-<key>, the key naming the row count, the
// fill's SQL and pg-boss's version; a later run starts that server again and reuses the fill while it
// is younger than --max-age-hours (default 12: its timestamps are relative to when it was made, and
// pg-boss deletes its settled rows a day after they finished) and no migration it applied has
// changed since. Migrations added since are applied to it first, as to a deployment. Each round's
// own jobs are deleted from it afterwards. --data-dir=DIR keeps it elsewhere; DATABASE_URL is not used.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { listJobs, type JobFilter } from '../src/admin/job-admin-repository.ts';
import { listBulkActions } from '../src/admin/bulk-action-repository.ts';
import { readLastMinutes, readOldestWaiting, readQueueStats, readRecentFailures } from '../src/admin/job-stats-repository.ts';
import { claimAttempts, settleAttempts } from '../src/jobs/attempt-repository.ts';
import { STANDARD_QUEUE } from '../src/lanes/db-lane.ts';
import { measureCreateAndExecute, type CreateExecuteResult } from './backlog.ts';
import { jsonClient, startBenchTarget, type BenchTarget } from './http.ts';
import { captureStatement, dashboardSession, explainAnalyze, timePages, type Statement } from './operator-queries.ts';
import { openBenchServer, withClient, type BenchServer } from './postgres.ts';
import { FULL_DATABASE, KEEP_THE_FILL_ENV, keptDirFor, prepareFilledDatabase } from './scale-fill.ts';
import { BENCH_ADMIN_KEY, startServiceProcess } from './service-process.ts';
import { resetStatements, topStatements } from './statements.ts';
import { median } from './stats.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const ROWS = option('rows', 10_000_000);
const ROUNDS = option('rounds', 2);
// 30,000 due jobs run for about 6 s here; 10,000 ran in under 2 s, where the workers' start (the
// first polls, the lane's ANALYZE of pg-boss's table) weighed on the rate as much as the table did.
const DUE = option('due', 30_000);
const MAX_AGE_HOURS = option('max-age-hours', 12);
const SHOW_STATEMENTS = args.includes('--statements');
// One at a time; p99 is then the 50th slowest, not the 10th (1,000 gave 0.86-1.49 between runs).
const LATENCY_CREATES = 5_000;
const REPEATS = 15;
const METRICS_SAMPLES = 4;
const START_UP_MS = 5_000;
// GET /metrics reads the queue gauges at most every 5 s (src/ops/metrics.ts); each timed scrape waits that out.
const METRICS_CACHE_MS = 5_100;
const keptDir = args.find((arg) => arg.startsWith('--data-dir='))?.split('=')[1] ?? keptDirFor(ROWS);

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

// The list endpoint's first page as a client asks for it. The bench app's rows are the round's own
// (the same in both databases; markRoundJobs gives some of them a rare status and a group); the
// others' are the fill's history, so on the empty table they answer an empty page and their ratio
// says nothing (HISTORY: judged by their plans instead).
const HISTORY = '(history)';
const LISTS: [string, string][] = [
  ['list: all apps', '/v1/jobs'],
  ['list: app bench', '/v1/jobs?appId=bench'],
  ['list: app bench, completed', '/v1/jobs?appId=bench&status=completed'],
  ['list: app bench, failed (none)', '/v1/jobs?appId=bench&status=failed'],
  ['list: all apps, dead_lettered', '/v1/jobs?status=dead_lettered'],
  [`list: app-3 ${HISTORY}`, '/v1/jobs?appId=app-3'],
  [`list: app-3, failed ${HISTORY}`, '/v1/jobs?appId=app-3&status=failed'],
  [`list: app-7, cancelled ${HISTORY}`, '/v1/jobs?appId=app-7&status=cancelled'],
];

const pagesFor = (jobId: string) => [
  '/dashboard',
  '/dashboard/jobs',
  '/dashboard/jobs?status=dead_lettered',
  '/dashboard/jobs?status=running',
  '/dashboard/jobs?appId=bench&status=completed',
  '/dashboard/jobs?messageGroupId=tenant-42',
  `/dashboard/jobs/${jobId}`,
  '/dashboard/bulk',
];

interface Round {
  kind: 'empty' | 'full';
  run: CreateExecuteResult;
  /** Median ms of each figure read through HTTP, by label. */
  reads: Record<string, number>;
}

async function timeGet(client: ReturnType<typeof jsonClient>, path: string, repeats: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i <= repeats; i++) {
    const started = performance.now();
    const response = await client.get(path);
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 200)}`);
    if (i > 0) samples.push(performance.now() - started);
  }
  return median(samples);
}

/** The list endpoint, /metrics and the dashboard, read through a service with workers (as deployed) once the round's jobs ran. */
async function timeReads(databaseUrl: string): Promise<Record<string, number>> {
  const service = await startServiceProcess(databaseUrl, { ...KEEP_THE_FILL_ENV, RUN_WORKERS: 'true' });
  const client = jsonClient(service.url, 1);
  try {
    // A worker process's first seconds on the full table are its start-up work (the reconciler's
    // pass, the pruner's first run, the lane's ANALYZE of a 330,000-row pg-boss table: 0.8 s), which
    // made the first list measured 1.5 times slower than 5 s later; the reads are of a running service.
    await new Promise((resolve) => setTimeout(resolve, START_UP_MS));
    const reads: Record<string, number> = {};
    for (const [label, path] of LISTS) reads[label] = await timeGet(client, path, REPEATS);
    const scrapes: number[] = [];
    for (let i = 0; i < METRICS_SAMPLES; i++) {
      await new Promise((resolve) => setTimeout(resolve, METRICS_CACHE_MS));
      const started = performance.now();
      const response = await client.get('/metrics');
      if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
      scrapes.push(performance.now() - started);
    }
    reads['GET /metrics (queue gauges read afresh)'] = median(scrapes);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const jobId = (await pool.query(`SELECT id FROM jobs WHERE app_id = 'bench' LIMIT 1`)).rows[0].id;
    await pool.end();
    const cookie = await dashboardSession(service.url, BENCH_ADMIN_KEY);
    for (const { page, ms } of await timePages(service.url, cookie, pagesFor(jobId), REPEATS)) {
      reads[`dashboard ${page.replace(jobId, ':id')}`] = ms;
    }
    return reads;
  } finally {
    client.close();
    await service.stop();
  }
}

/**
 * 60 of the round's completed jobs made dead-lettered and 60 put in group tenant-42, on both tables,
 * so that the dead-lettered and group pages show the same full page of 50 of the round's jobs on
 * both: on the empty table they would show none, and an empty page is no measure of a full one.
 */
async function markRoundJobs(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, (db) => db.query(
    `WITH picked AS (SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM jobs WHERE app_id = 'bench' AND status = 'completed' LIMIT 120)
     UPDATE jobs j SET status = CASE WHEN n <= 60 THEN 'dead_lettered' ELSE j.status END,
                       last_error = CASE WHEN n <= 60 THEN 'the target answered 500 (bench)' ELSE j.last_error END,
                       message_group_id = CASE WHEN n > 60 THEN 'tenant-42' ELSE j.message_group_id END,
                       updated_at = now()
       FROM picked WHERE j.id = picked.id`,
  ));
}

/** The round's own jobs out of the kept fill again, so every full round starts from the same table. */
async function removeRoundJobs(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, async (db) => {
    await db.query(`DELETE FROM pgboss.job WHERE id IN (SELECT id FROM jobs WHERE app_id = 'bench')`);
    await db.query(`DELETE FROM jobs WHERE app_id = 'bench'`);
    // INDEX_CLEANUP ON: a VACUUM that finds few dead rows may leave their index entries behind, and
    // the next round's list and last-hour scans would step over them at the newest end of each index.
    for (const table of ['jobs', 'job_attempts', 'pgboss.job_common']) await db.query(`VACUUM (INDEX_CLEANUP ON) ${table}`);
  });
}

const plans: { label: string; ms: number; plan: string }[] = [];

/**
 * The claim and settle statements on the full table, each as the lane runs it, in one transaction
 * rolled back: pg-boss's fetch of a batch of 100, claimAttempts of those, settleAttempts completing
 * them, and pg-boss's completion of the standard queue's jobs.
 */
async function explainHotPath(databaseUrl: string): Promise<void> {
  const boss = new PgBoss({ connectionString: databaseUrl, schema: 'pgboss', supervise: false, schedule: false, migrate: false });
  boss.on('error', () => {});
  await boss.start();
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const captured: Statement[] = [];
  // What pg-boss reads back from a settle: the count it affected.
  const capture = (answer: object[]) => ({ executeSql: async (text: string, values: unknown[] = []) => (captured.push({ text, values }), { rows: answer }) });
  try {
    await db.query('BEGIN');
    await boss.fetch(STANDARD_QUEUE, { batchSize: 100, db: capture([]) } as never);
    const fetch = captured.pop()!;
    const fetched = await explainAnalyze(db, fetch, 1);
    plans.push({ label: 'pg-boss claim (fetch of 100 from switchyard-jobs)', ...fetched });
    const { rows } = await db.query(`SELECT id FROM pgboss.job WHERE name = $1 AND state = 'active' ORDER BY started_on DESC LIMIT 100`, [STANDARD_QUEUE]);
    const ids: string[] = rows.map((row: { id: string }) => row.id);
    const claim = await captureStatement((c) => claimAttempts(c, 'db', ids.map((id) => ({ id, attempt: 1 }))));
    plans.push({ label: `claimAttempts (${ids.length} jobs)`, ...(await explainAnalyze(db, claim, 1)) });
    const settle = await captureStatement((c) => settleAttempts(c, ids.map((id) => ({
      id, attempt: 1, lane: 'db' as const, status: 'completed' as const, lastError: null, lastResponse: { status: 200, durationMs: 2 }, nextRetryAt: null,
    }))));
    plans.push({ label: `settleAttempts (${ids.length} completed)`, ...(await explainAnalyze(db, settle, 1)) });
    await boss.complete(STANDARD_QUEUE, ids, null, { db: capture([{ count: '0', ids: [] }]) } as never);
    plans.push({ label: `pg-boss complete (${ids.length} jobs)`, ...(await explainAnalyze(db, captured.pop()!, 1)) });
  } finally {
    await db.query('ROLLBACK').catch(() => {});
    await db.end();
    await boss.stop({ graceful: false, close: true });
  }
}

/** The operator's statements on the full table, read-only, median of 5. */
async function explainReads(databaseUrl: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    const list = (filter: JobFilter) => (db: never) => listJobs(db, filter, 51, undefined);
    const reads: [string, (db: never) => Promise<unknown>][] = [
      ['listJobs: all apps', list({})],
      ['listJobs: app-3', list({ appId: 'app-3' })],
      ['listJobs: app-3, failed', list({ appId: 'app-3', status: 'failed' })],
      ['listJobs: app-7, cancelled', list({ appId: 'app-7', status: 'cancelled' })],
      ['listJobs: all apps, dead_lettered', list({ status: 'dead_lettered' })],
      ['listJobs: app-3, running', list({ appId: 'app-3', status: 'running' })],
      ['readQueueStats (/metrics gauges, dashboard)', (db) => readQueueStats(db)],
      ['readOldestWaiting (dashboard)', (db) => readOldestWaiting(db)],
      ['readLastMinutes(60) (dashboard)', (db) => readLastMinutes(db, 60)],
      ['readRecentFailures(15) (dashboard)', (db) => readRecentFailures(db, 15)],
      ['listBulkActions(10) (dashboard)', (db) => listBulkActions(db, undefined, 10)],
    ];
    for (const [label, read] of reads) plans.push({ label, ...(await explainAnalyze(pool, await captureStatement(read), 5)) });
  } finally {
    await pool.end();
  }
}

async function round(server: BenchServer, target: BenchTarget, kind: 'empty' | 'full', last: boolean): Promise<Round> {
  const databaseUrl = kind === 'full' ? server.urlOf(FULL_DATABASE) : await server.createDatabase('scale_run');
  if (kind === 'full') await removeRoundJobs(databaseUrl);
  const run = await measureCreateAndExecute(server, target, databaseUrl, DUE, {
    latencyCreates: LATENCY_CREATES,
    serviceEnv: KEEP_THE_FILL_ENV,
    afterCreates: async () => {
      if (kind === 'full' && last) await explainHotPath(databaseUrl);
      if (SHOW_STATEMENTS) await resetStatements(server);
    },
  });
  if (SHOW_STATEMENTS && last) {
    console.log(`\nthe execution's top statements, ${kind} table (pg_stat_statements):`);
    console.table(await topStatements(server, [kind === 'full' ? FULL_DATABASE : 'scale_run%'], 15));
  }
  await markRoundJobs(databaseUrl);
  const reads = await timeReads(databaseUrl);
  // The operator's statements as the reads above met them: the round's jobs just ran.
  if (kind === 'full' && last) await explainReads(databaseUrl);
  if (kind === 'full') await removeRoundJobs(databaseUrl);
  log(`${kind}: execution ${run.executePerSecond} jobs/s, create p50/p99 ${run.createLatency.p50}/${run.createLatency.p99} ms, /metrics ${reads['GET /metrics (queue gauges read afresh)']!.toFixed(1)} ms`);
  return { kind, run, reads };
}

async function describeFull(server: BenchServer): Promise<void> {
  await withClient(server.urlOf(FULL_DATABASE), async (db) => {
    const { rows: statuses } = await db.query(`SELECT status, count(*)::int AS n FROM jobs GROUP BY 1 ORDER BY 2 DESC`);
    const { rows: sizes } = await db.query(
      `SELECT c.oid::regclass::text AS relation, pg_size_pretty(pg_table_size(c.oid)) AS heap, pg_size_pretty(pg_indexes_size(c.oid)) AS indexes,
              c.reltuples::bigint AS rows
         FROM pg_class c WHERE c.oid IN ('jobs'::regclass, 'job_attempts'::regclass, 'pgboss.job_common'::regclass)`,
    );
    const { rows: [row] } = await db.query(`SELECT avg(pg_column_size(j))::int AS bytes FROM (SELECT * FROM jobs TABLESAMPLE SYSTEM (0.1)) j`);
    console.log(`\nthe full table: ${statuses.map((s) => `${s.status} ${s.n.toLocaleString('en')}`).join(', ')}; a row averages ${row.bytes} bytes`);
    console.table(sizes);
  });
}

type Figure = { label: string; lowerIsBetter: boolean; value: (round: Round) => number };

function report(rounds: Round[]): { label: string; empty: number; full: number; ratio: number; met: boolean }[] {
  const figures: Figure[] = [
    { label: 'execution (jobs/s)', lowerIsBetter: false, value: (r) => r.run.executePerSecond },
    { label: 'execution: service CPU µs/job', lowerIsBetter: true, value: (r) => r.run.executeCpu.process },
    { label: 'execution: postgres CPU µs/job', lowerIsBetter: true, value: (r) => r.run.executeCpu.postgres ?? NaN },
    { label: 'create p50 (ms)', lowerIsBetter: true, value: (r) => r.run.createLatency.p50 },
    { label: 'create p99 (ms)', lowerIsBetter: true, value: (r) => r.run.createLatency.p99 },
    ...Object.keys(rounds[0]!.reads).map((label): Figure => ({ label: `${label} (ms)`, lowerIsBetter: true, value: (r) => r.reads[label]! })),
  ];
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const spread = (values: number[]) => `${fmt(Math.min(...values))}-${fmt(Math.max(...values))}`;
  const lines: string[][] = [['figure', 'empty: median (spread)', 'full: median (spread)', 'full/empty', 'within 10%']];
  const results = figures.map((figure) => {
    const empty = rounds.filter((r) => r.kind === 'empty').map(figure.value);
    const full = rounds.filter((r) => r.kind === 'full').map(figure.value);
    const ratio = median(full) / median(empty);
    const comparable = !figure.label.includes(HISTORY);
    const met = !comparable || (figure.lowerIsBetter ? ratio <= 1.1 : ratio >= 0.9);
    lines.push([figure.label, `${fmt(median(empty))} (${spread(empty)})`, `${fmt(median(full))} (${spread(full)})`, ratio.toFixed(2), comparable ? (met ? 'yes' : 'NO') : 'n/a: an empty page on the empty table']);
    return { label: figure.label, empty: median(empty), full: median(full), ratio: Math.round(ratio * 100) / 100, met };
  });
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((line) => line[i]!.length)));
  console.log(`\nempty table vs ${ROWS.toLocaleString('en')} finished jobs, ${ROUNDS} rounds each, interleaved (medians; spread is min-max):`);
  for (const line of lines) console.log(line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  return results;
}

// The embedded server's shared_buffers is PostgreSQL's default, 128 MB, which the full table's
// indexes (2 GB) do not fit in; a deployment gives it a share of the machine's memory.
const sharedBuffers = args.find((arg) => arg.startsWith('--shared-buffers='))?.split('=')[1];
const server = await openBenchServer(false, { keptDir, settings: sharedBuffers ? { shared_buffers: sharedBuffers } : {} });
const target = await startBenchTarget();
try {
  await prepareFilledDatabase(server, target, keptDir, ROWS, { maxAgeHours: MAX_AGE_HOURS, refill: args.includes('--refill') }, log);
  await describeFull(server);
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    rounds.push(await round(server, target, 'empty', i === ROUNDS - 1));
    rounds.push(await round(server, target, 'full', i === ROUNDS - 1));
  }
  const results = rounds.length ? report(rounds) : [];
  console.log(`\nEXPLAIN (ANALYZE, BUFFERS) on the full table:`);
  for (const { label, ms, plan } of plans) console.log(`\n--- ${label}: ${ms.toFixed(2)} ms\n${plan}`);
  console.log(JSON.stringify({ rows: ROWS, rounds: ROUNDS, due: DUE, results, plans: plans.map(({ label, ms }) => ({ label, ms })) }));
} finally {
  await target.close();
  await server.close();
}
