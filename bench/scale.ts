// Issue 18's scale check: does anything on the hot path or the operator's side slow down when `jobs`
// holds a month of finished jobs? The same measurements on an empty database and on one holding N
// finished jobs (bench/scale-fill.ts), on one embedded server, round by round: the create latency
// and the reads on both at once, alternating request by request, the executions one table after the
// other. Each figure is reported as the median of its rounds with the spread, and the ratio
// full/empty. Then EXPLAIN (ANALYZE, BUFFERS) on the full table of the statements that matter.
//
//   npm run bench:scale                                  (10,000,000 rows; the first run fills them)
//   npm run bench:scale -- --rows=1000000 --rounds=3 --due=10000
//   npm run bench:scale -- --refill                       (fill again even if a kept fill is there)
//   npm run bench:scale -- --statements                   (also the execution's top statements in the last rounds)
//   npm run bench:scale -- --shared-buffers=4GB           (the server's shared_buffers; PostgreSQL's 128 MB by default)
//   npm run bench:scale -- --small-jobs                   (the round's jobs as bench/switchyard.ts's small ones: see ROUND_JOB)
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
import { captureStatement, dashboardSession, explainAnalyze, type Statement } from './operator-queries.ts';
import { openBenchServer, withClient, type BenchServer } from './postgres.ts';
import { FULL_DATABASE, KEEP_THE_FILL_ENV, keptDirFor, prepareFilledDatabase, realisticCreateBody } from './scale-fill.ts';
import { BENCH_ADMIN_KEY, startServiceProcess } from './service-process.ts';
import { resetStatements, topStatements } from './statements.ts';
import { latencyOf, median, type Latency } from './stats.ts';
import { createBody } from './switchyard.ts';

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
// 31, not 15: on a noisy day a page of 2-7 ms moved by 1.5 times between rounds at 15.
const REPEATS = 31;
const METRICS_SAMPLES = 4;
const START_UP_MS = 5_000;
// GET /metrics reads the queue gauges at most every 5 s (src/ops/metrics.ts); each timed scrape waits that out.
const METRICS_CACHE_MS = 5_100;
// The round's jobs are the fill's kind of job (realisticCreateBody, the request the fill's rows were
// copied from), as a deployment's new jobs are mostly the kind its history holds. The fill packs 7
// rows of 1,076 bytes a page, and its VACUUM records the 512-672 bytes left on each of its 1,428,572
// pages in the free space map: none of the fill's kind fits there. The bench's small job does
// (--small-jobs; 544 bytes once done): PostgreSQL then puts each new row version in one of those old
// gaps, one job a page (35,000 jobs on 35,000 pages, 8.7 heap blocks read per job, against 5-9 jobs a
// page and none read on the empty table), and the execution rate fell to 0.65 of the empty table's.
// That is what any deployment meets while vacuum has left room for its new jobs on pages no longer in
// memory (docs/performance.md, "Scale"). The bench restores the fill's gaps after every full round
// (removeRoundJobs), so each --small-jobs round meets all of them again.
const SMALL_JOBS = args.includes('--small-jobs');
const ROUND_JOB = SMALL_JOBS ? createBody : (targetUrl: string, n: number) => realisticCreateBody(targetUrl, n, 'bench');
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

type Both<T> = Record<'empty' | 'full', T>;
const KINDS = ['empty', 'full'] as const;

/**
 * `measure(kind)` for both tables, `times` times, alternating which goes first, so that a drift of
 * the machine's speed (seen here: create p50 from 1.02 to 0.91 ms over one run) falls on both alike.
 */
async function alternately(times: number, measure: (kind: 'empty' | 'full') => Promise<number>): Promise<Both<number[]>> {
  const samples: Both<number[]> = { empty: [], full: [] };
  for (let i = 0; i < times; i++) {
    for (const kind of i % 2 ? [...KINDS].reverse() : KINDS) samples[kind].push(await measure(kind));
  }
  return samples;
}

/** How long `work` took; an answer but `expected` throws. */
async function timed(work: () => Promise<{ status: number }>, what: string, expected = 200): Promise<number> {
  const started = performance.now();
  const response = await work();
  if (response.status !== expected) throw new Error(`${what} answered ${response.status}`);
  return performance.now() - started;
}

/** Create latency: LATENCY_CREATES creates one at a time on each table, alternating, through services with workers off. */
async function pairedCreateLatency(urls: Both<string>, targetUrl: string): Promise<Both<Latency>> {
  const services = await Promise.all(KINDS.map((kind) => startServiceProcess(urls[kind], { ...KEEP_THE_FILL_ENV, RUN_WORKERS: 'false' })));
  const clients = { empty: jsonClient(services[0]!.url, 1), full: jsonClient(services[1]!.url, 1) };
  const next = { empty: 0, full: 0 };
  try {
    const samples = await alternately(LATENCY_CREATES, (kind) => timed(() => clients[kind].post('/v1/jobs/create', ROUND_JOB(targetUrl, next[kind]++)), 'create', 202));
    return { empty: latencyOf(samples.empty), full: latencyOf(samples.full) };
  } finally {
    for (const client of Object.values(clients)) client.close();
    await Promise.all(services.map((service) => service.stop()));
  }
}

/**
 * The list endpoint, /metrics and the dashboard, read through a service with workers (as deployed)
 * on each table once the round's jobs ran, both running at once and each read alternating between
 * them; median of REPEATS after a warm-up (METRICS_SAMPLES for /metrics).
 */
async function pairedReads(urls: Both<string>): Promise<Both<Record<string, number>>> {
  const services = await Promise.all(KINDS.map((kind) => startServiceProcess(urls[kind], { ...KEEP_THE_FILL_ENV, RUN_WORKERS: 'true' })));
  const base = { empty: services[0]!.url, full: services[1]!.url };
  const clients = { empty: jsonClient(base.empty, 1), full: jsonClient(base.full, 1) };
  const reads: Both<Record<string, number>> = { empty: {}, full: {} };
  const record = (label: string, samples: Both<number[]>) => {
    for (const kind of KINDS) reads[kind][label] = median(samples[kind]);
  };
  try {
    // A worker process's first seconds on the full table are its start-up work (the reconciler's
    // pass, the pruner's first run, the lane's ANALYZE of a 330,000-row pg-boss table: 0.8 s), which
    // made the first list measured 1.5 times slower than 5 s later; the reads are of a running service.
    await new Promise((resolve) => setTimeout(resolve, START_UP_MS));
    for (const [label, path] of LISTS) {
      for (const kind of KINDS) await clients[kind].get(path);
      record(label, await alternately(REPEATS, (kind) => timed(() => clients[kind].get(path), `GET ${path}`)));
    }
    record('GET /metrics (queue gauges read afresh)', await alternately(METRICS_SAMPLES, async (kind) => {
      await new Promise((resolve) => setTimeout(resolve, METRICS_CACHE_MS));
      return timed(() => clients[kind].get('/metrics'), 'GET /metrics');
    }));
    const jobIds = await Promise.all(KINDS.map((kind) => withClient(urls[kind], async (db) => (await db.query(`SELECT id FROM jobs WHERE app_id = 'bench' LIMIT 1`)).rows[0].id as string)));
    const cookies = await Promise.all(KINDS.map((kind) => dashboardSession(base[kind], BENCH_ADMIN_KEY)));
    const load = async (kind: 'empty' | 'full', page: string) => {
      const response = await fetch(base[kind] + page.replace(':id', jobIds[KINDS.indexOf(kind)]!), { headers: { cookie: cookies[KINDS.indexOf(kind)]! } });
      await response.text();
      return response;
    };
    for (const page of pagesFor(':id')) {
      for (const kind of KINDS) await load(kind, page);
      record(`dashboard ${page}`, await alternately(REPEATS, (kind) => timed(() => load(kind, page), page)));
    }
    return reads;
  } finally {
    for (const client of Object.values(clients)) client.close();
    await Promise.all(services.map((service) => service.stop()));
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

/** Blocks read from outside shared buffers and found in them, per table and index of the hot path, as pg_statio counts them. */
async function blockCounts(databaseUrl: string): Promise<Map<string, { read: number; hit: number }>> {
  return withClient(databaseUrl, async (db) => {
    const { rows } = await db.query(
      `SELECT relname AS name, heap_blks_read::float8 AS read, heap_blks_hit::float8 AS hit FROM pg_statio_all_tables
        WHERE relid IN ('jobs'::regclass, 'job_attempts'::regclass, 'pgboss.job_common'::regclass)
       UNION ALL
       SELECT relname || ' / ' || indexrelname, idx_blks_read, idx_blks_hit FROM pg_statio_all_indexes
        WHERE relid IN ('jobs'::regclass, 'job_attempts'::regclass, 'pgboss.job_common'::regclass)`,
    );
    return new Map(rows.map((row) => [row.name, { read: row.read, hit: row.hit }]));
  });
}

/** Where the execution's block reads went, per job: each relation's reads and hits between two blockCounts. */
function blocksPerJob(before: Map<string, { read: number; hit: number }>, after: Map<string, { read: number; hit: number }>, jobs: number) {
  return [...after].map(([name, { read, hit }]) => ({
    relation: name,
    'read/job': ((read - (before.get(name)?.read ?? 0)) / jobs).toFixed(2),
    'hit/job': ((hit - (before.get(name)?.hit ?? 0)) / jobs).toFixed(2),
  })).filter((row) => row['read/job'] !== '0.00' || row['hit/job'] !== '0.00');
}

/**
 * One round on each table. The create latency and the reads are measured on both at once, request
 * by request alternating (pairedCreateLatency, pairedReads); the executions one table after the other,
 * each with the machine to itself, the first one alternating between rounds.
 */
async function round(server: BenchServer, target: BenchTarget, index: number, last: boolean): Promise<Round[]> {
  const urls: Both<string> = { empty: await server.createDatabase('scale_run'), full: server.urlOf(FULL_DATABASE) };
  await removeRoundJobs(urls.full);
  // Every round starts with no dirty buffers: the full round's VACUUM (removeRoundJobs) leaves many,
  // and the checkpointer writing them out beside the timed creates was noise on one side only.
  await withClient(urls.full, (db) => db.query('CHECKPOINT'));
  const latency = await pairedCreateLatency(urls, target.url);
  const runs: Partial<Both<CreateExecuteResult>> = {};
  for (const kind of index % 2 ? [...KINDS].reverse() : KINDS) {
    const databaseUrl = urls[kind];
    let blocksBefore = new Map<string, { read: number; hit: number }>();
    runs[kind] = await measureCreateAndExecute(server, target, databaseUrl, DUE, {
      latencyCreates: 0,
      alreadyCreated: LATENCY_CREATES,
      serviceEnv: KEEP_THE_FILL_ENV,
      // After the LATENCY_CREATES jobs pairedCreateLatency made: each job's number (its idempotency key) is its own.
      body: (targetUrl, n) => ROUND_JOB(targetUrl, LATENCY_CREATES + n),
      afterCreates: async () => {
        if (kind === 'full' && last) await explainHotPath(databaseUrl);
        if (SHOW_STATEMENTS) await resetStatements(server);
        if (SHOW_STATEMENTS) blocksBefore = await blockCounts(databaseUrl);
      },
    });
    if (SHOW_STATEMENTS && last) {
      console.log(`\nthe execution's blocks per job, ${kind} table (pg_statio; read = from outside shared buffers):`);
      console.table(blocksPerJob(blocksBefore, await blockCounts(databaseUrl), DUE + LATENCY_CREATES));
      const { rows: [placed] } = await withClient(databaseUrl, (db) => db.query(
        `SELECT count(*)::int AS jobs, count(DISTINCT (ctid::text::point)[0])::int AS pages,
                min((ctid::text::point)[0])::int AS first_page, max((ctid::text::point)[0])::int AS last_page,
                (pg_relation_size('jobs') / 8192)::int AS table_pages
           FROM jobs WHERE app_id = 'bench'`));
      console.log(`the round's jobs now lie on ${placed.pages.toLocaleString('en')} heap pages (${(placed.jobs / placed.pages).toFixed(1)} a page), pages ${placed.first_page.toLocaleString('en')}-${placed.last_page.toLocaleString('en')} of ${placed.table_pages.toLocaleString('en')}`);
      console.log(`\nthe execution's top statements, ${kind} table (pg_stat_statements):`);
      console.table(await topStatements(server, [kind === 'full' ? FULL_DATABASE : 'scale_run%'], 15));
    }
  }
  for (const kind of KINDS) await markRoundJobs(urls[kind]);
  const reads = await pairedReads(urls);
  // The operator's statements as the reads above met them: the round's jobs just ran.
  if (last) await explainReads(urls.full);
  await removeRoundJobs(urls.full);
  return KINDS.map((kind) => {
    const run = { ...runs[kind]!, createLatency: latency[kind] };
    log(`${kind}: execution ${run.executePerSecond} jobs/s, create p50/p99 ${run.createLatency.p50}/${run.createLatency.p99} ms, /metrics ${reads[kind]['GET /metrics (queue gauges read afresh)']!.toFixed(1)} ms`);
    return { kind, run, reads: reads[kind] };
  });
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
  for (let i = 0; i < ROUNDS; i++) rounds.push(...(await round(server, target, i, i === ROUNDS - 1)));
  const results = rounds.length ? report(rounds) : [];
  console.log(`\nEXPLAIN (ANALYZE, BUFFERS) on the full table:`);
  for (const { label, ms, plan } of plans) console.log(`\n--- ${label}: ${ms.toFixed(2)} ms\n${plan}`);
  console.log(JSON.stringify({ rows: ROWS, rounds: ROUNDS, due: DUE, results, plans: plans.map(({ label, ms }) => ({ label, ms })) }));
} finally {
  await target.close();
  await server.close();
}
