// What the operator's side costs at scale: a jobs table of 1,000,000 rows (made with
// generate_series), the dashboard's pages timed through HTTP as a browser asks for them, the
// /metrics queue reading under EXPLAIN ANALYZE (with the table mostly finished, and with a backlog
// of 200,000 due jobs), a bulk retry's rate, and the no-op tracer's cost per attempt.
//
//   node bench/operator-pages.ts            (about two minutes; DATABASE_URL to use a server of your own)
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { readLastMinutes, readOldestWaiting, readQueueStats, readRecentFailures } from '../src/admin/job-stats-repository.ts';
import { parseConfig } from '../src/config/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { silentLogger } from '../src/ops/log.ts';
import { startAttemptSpan } from '../src/ops/trace.ts';
import { startSwitchyard } from '../src/service.ts';
import { captureStatement, dashboardSession, explainAnalyze, timePages } from './operator-queries.ts';
import { openBenchServer } from './postgres.ts';

const ROWS = 1_000_000;
const BACKLOG = 200_000;
const ADMIN_KEY = 'sy_admin_bench-key-0123456789abcdefghijklmnopqrstuvwxyz';
const REPEATS = 5;

const server = await openBenchServer(false);
const url = await server.createDatabase('operator_pages');
await migrate(url);
const sql = new pg.Pool({ connectionString: url, max: 2 });

async function fill(): Promise<void> {
  const started = performance.now();
  // Over the last 24 hours: 98% completed, 1% dead-lettered, 0.5% failed, 0.5% waiting or running
  // (pending, retrying, running, scheduled), 20 apps, a group on every tenth job.
  await sql.query(`
    INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, message_group_id, status,
                      attempts, max_attempts, retry_policy, created_at, updated_at, started_at, completed_at, next_retry_at, run_at,
                      last_error, last_response, traceparent)
    SELECT gen_random_uuid(), 'app-' || (i % 20), 'db', 'rest-api', '{"httpMethod":"POST","path":"/hook"}',
           '{"type":"rest-api","baseUrl":"http://127.0.0.1:9"}', CASE WHEN i % 10 = 0 THEN 'group-' || (i % 5000) END,
           s.status, CASE WHEN s.status IN ('pending', 'scheduled') THEN 0 WHEN s.status = 'completed' THEN 1 ELSE 3 END, 3,
           '{"baseDelaySeconds":60,"maxDelaySeconds":86400}', c.at, c.at, c.at,
           CASE WHEN s.status IN ('completed', 'failed', 'dead_lettered') THEN c.at + interval '40 ms' END,
           CASE WHEN s.status = 'retrying' THEN now() + (i % 600 - 300) * interval '1 second' END,
           CASE WHEN s.status = 'scheduled' THEN now() + interval '1 day' END,
           CASE WHEN s.status IN ('failed', 'dead_lettered', 'retrying') THEN 'HTTP 503' END,
           '{"status":200,"durationMs":40,"body":"","truncated":false}',
           '00-' || md5(i::text) || '-' || substr(md5((i + 1)::text), 1, 16) || '-01'
      FROM generate_series(1, ${ROWS}) AS i,
           LATERAL (SELECT now() - (${ROWS} - i) * interval '86.4 ms' AS at) AS c,
           LATERAL (SELECT CASE WHEN i % 200 = 0 THEN 'failed' WHEN i % 100 = 0 THEN 'dead_lettered'
                                WHEN i % 200 = 1 THEN (ARRAY['pending', 'retrying', 'running', 'scheduled'])[1 + (i / 200) % 4]
                                ELSE 'completed' END AS status) AS s`);
  // Three attempts for each job that failed, dead-lettered or is retrying, as the lanes write them.
  await sql.query(`
    INSERT INTO job_attempts (job_id, attempt, lane, started_at, finished_at, outcome, http_status, duration_ms, error)
    SELECT j.id, a, 'db', j.created_at + a * interval '1 minute', j.created_at + a * interval '1 minute' + interval '40 ms',
           CASE WHEN a < 3 THEN 'retrying' ELSE j.status END, 503, 40, 'HTTP 503'
      FROM jobs j, generate_series(1, 3) AS a WHERE j.status IN ('failed', 'dead_lettered', 'retrying')`);
  await sql.query('VACUUM ANALYZE jobs');
  await sql.query('VACUUM ANALYZE job_attempts');
  const { rows } = await sql.query(`SELECT status, count(*)::int AS n FROM jobs GROUP BY status ORDER BY n DESC`);
  const attempts = (await sql.query('SELECT count(*)::int AS n FROM job_attempts')).rows[0].n;
  console.log(`filled in ${((performance.now() - started) / 1000).toFixed(1)} s: ${rows.map((r) => `${r.status} ${r.n}`).join(', ')}; job_attempts ${attempts}`);
}

/** EXPLAIN ANALYZE of the statement a repository function sends, captured as it is sent. */
async function explain(label: string, read: (db: never) => Promise<unknown>, details = false): Promise<number> {
  const { ms, plan } = await explainAnalyze(sql, await captureStatement(read), REPEATS);
  console.log(`  ${ms.toFixed(1).padStart(7)} ms  ${label}`);
  if (details) console.log(plan.split('\n').filter((line) => /Scan|Execution Time/.test(line)).slice(0, 6).map((line) => `             ${line.trim()}`).join('\n'));
  return ms;
}

async function explainOverview(label: string): Promise<void> {
  console.log(`\nthe overview's statements (and the /metrics queue reading, the first), ${label} (EXPLAIN ANALYZE, median of ${REPEATS}):`);
  await explain('readQueueStats', (db) => readQueueStats(db), true);
  await explain('readOldestWaiting', (db) => readOldestWaiting(db));
  await explain('readLastMinutes(60)', (db) => readLastMinutes(db, 60));
  await explain('readRecentFailures(15)', (db) => readRecentFailures(db, 15));
}

async function timeDashboard(base: string): Promise<void> {
  const cookie = await dashboardSession(base, ADMIN_KEY);
  const someJob = (await sql.query(`SELECT id FROM jobs WHERE status = 'dead_lettered' LIMIT 1`)).rows[0].id;
  const oldCursor = (await (await fetch(`${base}/v1/jobs?limit=1&createdBefore=${new Date(Date.now() - 12 * 3600_000).toISOString()}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json()).nextCursor;
  const pages = [
    '/dashboard',
    '/dashboard/jobs',
    '/dashboard/jobs?status=dead_lettered',
    '/dashboard/jobs?status=running',
    '/dashboard/jobs?appId=app-7&status=failed',
    '/dashboard/jobs?messageGroupId=group-42',
    `/dashboard/jobs?createdAfter=${new Date(Date.now() - 3600_000).toISOString().slice(0, 16)}`,
    `/dashboard/jobs?cursor=${oldCursor}`,
    `/dashboard/jobs/${someJob}`,
    '/dashboard/bulk',
  ];
  console.log(`\ndashboard pages at ${ROWS.toLocaleString('en')} jobs (median of ${REPEATS}, after one warm-up):`);
  const timings = await timePages(base, cookie, pages, REPEATS);
  for (const { page, ms } of timings) console.log(`  ${ms.toFixed(1).padStart(7)} ms  ${page}`);
  const slowest = timings.reduce((a, b) => (b.ms > a.ms ? b : a));
  console.log(`  slowest: ${slowest.page} at ${slowest.ms.toFixed(1)} ms`);
}

async function timeBulkRetry(base: string): Promise<void> {
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const started = performance.now();
  const run = await (await fetch(`${base}/v1/bulk-actions`, { method: 'POST', headers, body: JSON.stringify({ action: 'retry', filter: { appId: 'app-0', status: 'dead_lettered' } }) })).json();
  let state = run;
  while (state.status === 'running') {
    await new Promise((resolve) => setTimeout(resolve, 200));
    state = await (await fetch(`${base}/v1/bulk-actions/${run.id}`, { headers })).json();
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nbulk retry of ${state.changed} dead-lettered jobs (of ${state.total}): ${seconds.toFixed(1)} s, ${(state.changed / seconds).toFixed(0)} jobs/s`);
}

function timeNoopSpans(): void {
  const stored = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: null };
  const attributes = { jobId: 'j', appId: 'a', attempt: 1, type: 'rest-api' };
  for (let i = 0; i < 100_000; i++) startAttemptSpan(stored, attributes).end({ outcome: 'ok', httpStatus: 200 });
  const n = 1_000_000;
  const started = performance.now();
  for (let i = 0; i < n; i++) startAttemptSpan(stored, attributes).end({ outcome: 'ok', httpStatus: 200 });
  console.log(`\nan attempt's span with no tracer provider registered: ${(((performance.now() - started) * 1000) / n).toFixed(2)} µs`);
}

try {
  await fill();
  await explainOverview(`${ROWS.toLocaleString('en')} jobs, 0.5% waiting or running`);
  const service = await startSwitchyard(parseConfig({ DATABASE_URL: url, PORT: '0', RUN_WORKERS: 'false', BOOTSTRAP_ADMIN_KEY: ADMIN_KEY }), silentLogger);
  try {
    await timeDashboard(service.url);
    await timeBulkRetry(service.url);
  } finally {
    await service.stop();
  }
  await sql.query(`
    INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, status, max_attempts, retry_policy, traceparent)
    SELECT gen_random_uuid(), 'app-' || (i % 20), 'db', 'rest-api', '{}', '{}', 'pending', 3, '{"baseDelaySeconds":60,"maxDelaySeconds":86400}', '00-' || md5(i::text) || '-00f067aa0ba902b7-01'
      FROM generate_series(1, ${BACKLOG}) AS i`);
  await sql.query('VACUUM ANALYZE jobs');
  await explainOverview(`with a backlog: ${BACKLOG.toLocaleString('en')} more jobs due at once`);
  timeNoopSpans();
} finally {
  await sql.end();
  await server.close();
}
