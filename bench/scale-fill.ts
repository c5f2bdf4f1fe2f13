// A jobs table as a deployment has it after a month: N finished jobs written straight in SQL, each
// shaped like a real rest-api job (its JSON columns copied from one created through the API and run),
// their attempt history, and the settled pg-boss entries pg-boss still keeps (the last day's; it
// deletes them after deleteAfterSeconds, 24 h). bench/scale.ts measures on it; bench/autovacuum.ts
// starts from a smaller one.
//
// Fast on 2 cores without changing what the table is: every index and key of jobs and job_attempts is
// dropped for the fill and rebuilt after it from its own definition (a B-tree built by a sort is as
// compact as the one time-ordered inserts leave), two connections insert chunks in time order, and a
// VACUUM ANALYZE sets what autovacuum would have set by then. Nothing is UNLOGGED.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { ROOT } from '../src/cli/start-command.ts';
import { migrate } from '../src/db/migrate.ts';
import { jsonClient, type BenchTarget } from './http.ts';
import { withClient, type BenchServer } from './postgres.ts';
import { startServiceProcess } from './service-process.ts';
import { until } from './stats.ts';

/** Raise when the SQL below changes: a kept fill made by other SQL is not reused. */
const FILL_VERSION = 2;
const SPAN_DAYS = 30;
const CHUNK_ROWS = 250_000;
const WRITERS = 2;
/** pg-boss keeps a settled lane job this long (src/lanes/db-lane.ts, DELETE_AFTER_SECONDS). */
const LANE_KEEPS_HOURS = 24;
/** The order id in the sample job's body, replaced by each row's number. */
const SAMPLE_ORDER = 1_000_001;

/** The filled database's name on its kept server. */
export const FULL_DATABASE = 'scale_full';

/** Retention long enough that the pruner keeps the whole fill while the benches run (its timer still runs). */
export const KEEP_THE_FILL_ENV = { RETAIN_COMPLETED: '45d', RETAIN_FAILED: '45d' };

/** What a real shop's order webhook looks like as a create: headers, a query, a JSON body of a few hundred bytes, metadata. */
export function realisticCreateBody(targetUrl: string, orderId: number, appId: string) {
  return {
    appId,
    mode: 'db',
    idempotencyKey: `order-${orderId}`,
    message: {
      lambdaProxyMessage: {
        httpMethod: 'POST',
        path: '/webhooks/orders',
        headers: { 'content-type': 'application/json', 'x-request-id': '4f1c2a9e-8b7d-4c3e-9a2f-1d6b5e8c7a90', 'user-agent': 'shop-backend/4.2.1' },
        queryStringParameters: { source: 'checkout' },
        body: JSON.stringify({
          event: 'order.paid', orderId, customerId: 'cus_9XkQ2mLpR4', amount: 4999, currency: 'EUR',
          items: [{ sku: 'SKU-12345', quantity: 2, price: 1500 }, { sku: 'SKU-98765', quantity: 1, price: 1999 }],
          shipping: { method: 'express', country: 'DE' }, paidAt: '2026-11-30T10:15:00.000Z',
        }),
      },
      execution: { type: 'rest-api', baseUrl: targetUrl, timeoutMs: 10_000 },
      metadata: { source: 'checkout', tenant: 'acme', orderId },
    },
    retry: { maxAttempts: 5 },
  };
}

export interface FillMarker {
  rows: number;
  key: string;
  /** When the fill's newest job finished (ISO); its oldest finished SPAN_DAYS before. */
  filledAt: string;
  seconds: number;
  counts: Record<string, number>;
  /** Each migration the kept database has applied, by name, with a hash of its text. */
  migrations: Record<string, string>;
}

/** Names what the fill's rows depend on: its own SQL, the row count and pg-boss's version. Migrations are checked apart (see keptFillUsable). */
export function fillKey(rows: number): string {
  const pgBoss = JSON.parse(readFileSync(join(ROOT, 'node_modules/pg-boss/package.json'), 'utf8')).version;
  return createHash('sha1').update(`${FILL_VERSION}:${rows}:${pgBoss}`).digest('hex').slice(0, 12);
}

/** Every migration file by name, with a hash of its text. */
export function migrationHashes(): Record<string, string> {
  const dir = join(ROOT, 'migrations');
  return Object.fromEntries(readdirSync(dir).sort().map((file) => [file, createHash('sha1').update(readFileSync(join(dir, file))).digest('hex').slice(0, 12)]));
}

/**
 * Why a kept fill cannot be used, or undefined when it can. A migration added since is fine: it is
 * applied to the kept database, as to a deployment's; one that changed after it was applied is not.
 */
export function whyNotUsable(marker: FillMarker | undefined, rows: number, maxAgeHours: number): string | undefined {
  if (!marker) return 'no kept fill';
  if (marker.key !== fillKey(rows)) return 'the fill or pg-boss changed';
  const ageHours = (Date.now() - Date.parse(marker.filledAt)) / 3_600_000;
  if (ageHours >= maxAgeHours) return `the kept fill is ${ageHours.toFixed(1)} h old`;
  const now = migrationHashes();
  const changed = Object.entries(marker.migrations).filter(([name, hash]) => now[name] !== hash).map(([name]) => name);
  return changed.length ? `migrations changed since they were applied: ${changed.join(', ')}` : undefined;
}

export function readMarker(keptDir: string): FillMarker | undefined {
  const file = join(keptDir, 'filled.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}

/** One real job created through the API and run against the target: its row and its settled lane job, as JSON. */
async function sampleJob(databaseUrl: string, target: BenchTarget): Promise<{ row: object; laneJob: object }> {
  const service = await startServiceProcess(databaseUrl, { ...KEEP_THE_FILL_ENV, RUN_WORKERS: 'true' });
  try {
    const client = jsonClient(service.url, 1);
    const created = await client.post('/v1/jobs/create', realisticCreateBody(target.url, SAMPLE_ORDER, 'app-0'));
    client.close();
    if (created.status !== 202) throw new Error(`the sample create answered ${created.status}: ${JSON.stringify(created.body)}`);
    return await withClient(databaseUrl, async (db) => {
      const id = created.body.id as string;
      await until(async () => (await db.query(`SELECT 1 FROM pgboss.job WHERE id = $1 AND state = 'completed'`, [id])).rows.length === 1, 30_000, 'the sample job to complete');
      const row = (await db.query(`SELECT to_jsonb(j) AS row FROM jobs j WHERE id = $1 AND status = 'completed'`, [id])).rows[0].row;
      const laneJob = (await db.query(`SELECT to_jsonb(b) AS row FROM pgboss.job b WHERE id = $1`, [id])).rows[0].row;
      // The fill writes every row; the sample only lent its shape.
      await db.query(`DELETE FROM pgboss.job WHERE id = $1`, [id]);
      await db.query(`DELETE FROM jobs WHERE id = $1`, [id]);
      return { row, laneJob };
    });
  } finally {
    await service.stop();
  }
}

interface Definitions {
  /** ALTER TABLE … ADD CONSTRAINT for keys (primary, unique) and foreign keys, keys first. */
  constraints: { table: string; name: string; sql: string; foreign: boolean }[];
  /** CREATE INDEX of every index that is not a key's. */
  indexes: { name: string; sql: string }[];
}

const FILLED_TABLES = `('jobs'::regclass, 'job_attempts'::regclass)`;

async function readDefinitions(db: pg.Client): Promise<Definitions> {
  const { rows: constraints } = await db.query(
    `SELECT c.conrelid::regclass::text AS table, c.conname AS name, c.contype = 'f' AS foreign,
            format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) AS sql
       FROM pg_constraint c
      WHERE (c.conrelid IN ${FILLED_TABLES} AND c.contype IN ('p', 'u', 'f')) OR c.confrelid IN ${FILLED_TABLES}
      ORDER BY c.contype = 'f', c.conname`,
  );
  const { rows: indexes } = await db.query(
    `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS sql
       FROM pg_index i
      WHERE i.indrelid IN ${FILLED_TABLES} AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u'))
      ORDER BY 1`,
  );
  return { constraints, indexes };
}

async function dropDefinitions(db: pg.Client, definitions: Definitions): Promise<void> {
  const foreignFirst = [...definitions.constraints].sort((a, b) => Number(b.foreign) - Number(a.foreign));
  for (const c of foreignFirst) await db.query(`ALTER TABLE ${c.table} DROP CONSTRAINT ${JSON.stringify(c.name)}`);
  for (const index of definitions.indexes) await db.query(`DROP INDEX ${index.name}`);
}

/** Runs `tasks` on `WRITERS` connections at once, each taking the next task as it finishes one. */
async function onConnections(url: string, tasks: ((db: pg.Client) => Promise<void>)[], setup: string): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: WRITERS }, () => withClient(url, async (db) => {
    await db.query(setup);
    while (next < tasks.length) await tasks[next++]!(db);
  })));
}

/**
 * One chunk of rows i in [$1, $2] of $3, the newest finishing at $4: the jobs rows, their attempts
 * (every attempt but a first one that completed, as settleAttempts writes them) and, for the last
 * LANE_KEEPS_HOURS, the settled pg-boss job (a cancelled job's lane job is discarded at once).
 *
 * The mix: 8 apps from 40% of the jobs down to 2%; app-5 calls a flaky target (10% dead-lettered, 5%
 * failed), the others fail 1.2% of the time and are cancelled 0.3%; 3% complete on a retry; a tenth
 * carry a message group, 30% an idempotency key. Retries wait the job's backoff (base * 2^(n-1)).
 */
const CHUNK_SQL = `
WITH t AS (SELECT $5::jsonb AS j, $6::jsonb AS b, ($5::jsonb->'retry_policy'->>'baseDelaySeconds')::int AS base),
src AS (
  SELECT i, app, status, attempts, r.group_draw, r.group_n,
         c.created, c.created + make_interval(secs => wait_s) AS first_started,
         c.created + make_interval(secs => wait_s + t.base * (2 ^ (attempts - 1) - 1) + (attempts - 1) * duration_s) AS last_started,
         duration_s,
         CASE WHEN status = 'cancelled' THEN c.created + make_interval(secs => wait_s + duration_s + 60 + r.r3 * 600)
              ELSE c.created + make_interval(secs => wait_s + t.base * (2 ^ (attempts - 1) - 1) + attempts * duration_s) END AS finished
    FROM generate_series($1::bigint, $2::bigint) AS i
   CROSS JOIN t
   CROSS JOIN LATERAL (SELECT $4::timestamptz - make_interval(days => ${SPAN_DAYS}) + (i - 0.5)::float8 * (make_interval(days => ${SPAN_DAYS}) / $3::float8) AS created) c
   -- Referring to i keeps this one subquery per row: uncorrelated, it would be drawn once for all rows.
   CROSS JOIN LATERAL (SELECT i AS drawn_for, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS group_draw,
                              floor(random() * 5000)::int AS group_n) r
   CROSS JOIN LATERAL (SELECT CASE WHEN r.r1 < 0.40 THEN 0 WHEN r.r1 < 0.60 THEN 1 WHEN r.r1 < 0.72 THEN 2 WHEN r.r1 < 0.82 THEN 3
                                   WHEN r.r1 < 0.90 THEN 4 WHEN r.r1 < 0.95 THEN 5 WHEN r.r1 < 0.98 THEN 6 ELSE 7 END AS app_n) a
   CROSS JOIN LATERAL (SELECT 'app-' || a.app_n AS app,
                              CASE WHEN a.app_n = 5 THEN CASE WHEN r.r2 < 0.10 THEN 'dead_lettered' WHEN r.r2 < 0.15 THEN 'failed' WHEN r.r2 < 0.153 THEN 'cancelled' ELSE 'completed' END
                                   ELSE CASE WHEN r.r2 < 0.005 THEN 'dead_lettered' WHEN r.r2 < 0.012 THEN 'failed' WHEN r.r2 < 0.015 THEN 'cancelled' ELSE 'completed' END
                              END AS status) s
   CROSS JOIN LATERAL (SELECT CASE s.status WHEN 'dead_lettered' THEN (t.j->>'max_attempts')::int
                                            WHEN 'failed' THEN CASE WHEN r.r3 < 0.3 THEN 2 ELSE 1 END
                                            WHEN 'cancelled' THEN 1
                                            ELSE CASE WHEN r.r3 < 0.005 THEN 3 WHEN r.r3 < 0.03 THEN 2 ELSE 1 END END AS attempts,
                              0.005 + r.r4 * 0.05 AS wait_s, 0.02 + power(r.r3, 3) * 2 AS duration_s) n
), inserted AS (
  INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, metadata, message_group_id,
                    idempotency_key, status, attempts, max_attempts, retry_policy, last_error, last_response,
                    created_at, updated_at, started_at, completed_at, lane, traceparent)
  SELECT uuidv7(src.created - clock_timestamp()), src.app, t.j->>'mode', t.j->>'execution_type',
         t.j->'lambda_proxy_message' || jsonb_build_object('body', replace(t.j->'lambda_proxy_message'->>'body', '${SAMPLE_ORDER}', src.i::text)),
         t.j->'execution_config' || jsonb_build_object('baseUrl', 'https://hooks.' || src.app || '.example.com'),
         t.j->'metadata' || jsonb_build_object('orderId', src.i),
         CASE WHEN src.group_draw < 0.1 THEN 'tenant-' || src.group_n END,
         CASE WHEN src.group_draw >= 0.1 AND src.group_draw < 0.4 THEN 'order-' || src.i END,
         src.status, src.attempts, (t.j->>'max_attempts')::int, t.j->'retry_policy',
         CASE src.status WHEN 'failed' THEN 'HTTP 422' WHEN 'dead_lettered' THEN 'HTTP 503' END,
         t.j->'last_response' || CASE src.status
           WHEN 'failed' THEN jsonb_build_object('status', 422, 'body', '{"error":"order ' || src.i || ' is not payable"}')
           WHEN 'dead_lettered' THEN jsonb_build_object('status', 503, 'body', 'upstream unavailable')
           ELSE '{}'::jsonb END || jsonb_build_object('durationMs', round(src.duration_s * 1000)),
         src.created, src.finished, CASE WHEN src.status = 'cancelled' THEN src.first_started ELSE src.last_started END, src.finished,
         t.j->>'lane', '00-' || md5(src.i::text) || '-' || left(md5((-src.i)::text), 16) || '-01'
    FROM src CROSS JOIN t
  RETURNING id, status, attempts, created_at, started_at, completed_at, message_group_id, last_error, last_response
), history AS (
  INSERT INTO job_attempts (job_id, attempt, lane, started_at, finished_at, outcome, http_status, duration_ms, error)
  SELECT d.id, a, 'db', d.started_at - (d.attempts - a) * interval '1 minute', d.completed_at - (d.attempts - a) * interval '1 minute',
         CASE WHEN a < d.attempts OR d.status = 'cancelled' THEN 'retrying' ELSE d.status END,
         CASE WHEN a = d.attempts AND d.status <> 'cancelled' THEN (d.last_response->>'status')::int ELSE 503 END,
         (d.last_response->>'durationMs')::int,
         CASE WHEN a = d.attempts AND d.status <> 'cancelled' THEN d.last_error ELSE 'HTTP 503' END
    FROM inserted d CROSS JOIN generate_series(1, d.attempts) AS a
   WHERE NOT (d.status = 'completed' AND d.attempts = 1)
  RETURNING 1
), lane AS (
  INSERT INTO pgboss.job
  -- A lateral call: (jsonb_populate_record(…)).* would call it once per column.
  SELECT lane_job.*
    FROM inserted d CROSS JOIN t
   CROSS JOIN LATERAL jsonb_populate_record(NULL::pgboss.job, t.b || jsonb_build_object(
           'id', d.id,
           'name', CASE WHEN d.message_group_id IS NULL THEN 'switchyard-jobs' ELSE 'switchyard-jobs-ordered' END,
           'policy', CASE WHEN d.message_group_id IS NULL THEN t.b->>'policy' ELSE 'key_strict_fifo' END,
           'singleton_key', d.message_group_id,
           'retry_count', d.attempts - 1,
           'created_on', d.created_at, 'start_after', d.started_at, 'started_on', d.started_at, 'completed_on', d.completed_at,
           'keep_until', d.created_at + ((t.b->>'keep_until')::timestamptz - (t.b->>'created_on')::timestamptz))) AS lane_job
   WHERE d.status <> 'cancelled' AND d.completed_at > $4::timestamptz - make_interval(hours => ${LANE_KEEPS_HOURS})
  RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::int AS jobs, (SELECT count(*) FROM history)::int AS attempts, (SELECT count(*) FROM lane)::int AS lane_jobs`;

/**
 * The per-minute counts (migration 0017) the fill's month would have left: each minute's creates,
 * completions, failures and retried attempts, spread over four writing sessions as a service's pool
 * spreads them.
 */
const ACTIVITY_SQL = `
INSERT INTO job_activity (minute, backend, created, completed, retried, failed)
SELECT minute, backend, sum(created), sum(completed), sum(retried), sum(failed)
  FROM (SELECT date_trunc('minute', created_at) AS minute, 1 + (hashtext(id::text) & 3) AS backend, 1 AS created, 0 AS completed, 0 AS retried, 0 AS failed FROM jobs
        UNION ALL
        SELECT date_trunc('minute', completed_at), 1 + (hashtext(id::text) & 3), 0, (status = 'completed')::int, 0, (status IN ('failed', 'dead_lettered'))::int
          FROM jobs WHERE completed_at IS NOT NULL AND status <> 'cancelled'
        UNION ALL
        SELECT date_trunc('minute', finished_at), 1 + (hashtext(job_id::text) & 3), 0, 0, 1, 0 FROM job_attempts WHERE outcome = 'retrying') AS events
 GROUP BY minute, backend`;

/**
 * Fills `database` (made here, on `server`) with `rows` finished jobs and returns what it made. The
 * service process made the schema (migrations, pg-boss's schema and queues) as it does on a new
 * deployment.
 */
export async function fillFinishedJobs(server: BenchServer, target: BenchTarget, database: string, rows: number, log: (line: string) => void): Promise<FillMarker> {
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  const adminUrl = server.urlOf('postgres');
  await withClient(adminUrl, async (db) => {
    await db.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await db.query(`CREATE DATABASE ${database}`);
    // A fill writes ~1.5 KB of WAL a row: checkpoints every 1 GB (the default) would rewrite pages many times over.
    await db.query(`ALTER SYSTEM SET max_wal_size = '32GB'`);
    await db.query(`ALTER SYSTEM SET checkpoint_timeout = '1h'`);
    await db.query(`SELECT pg_reload_conf()`);
  });
  const url = server.urlOf(database);
  try {
    const sample = await sampleJob(url, target);
    log(`sample job created and run through the API (${elapsed()})`);
    const definitions = await withClient(url, async (db) => {
      const found = await readDefinitions(db);
      await dropDefinitions(db, found);
      return found;
    });
    const filledAt = new Date();
    const counts = { jobs: 0, attempts: 0, laneJobs: 0 };
    const chunks = Array.from({ length: Math.ceil(rows / CHUNK_ROWS) }, (_, k) => async (db: pg.Client) => {
      const first = k * CHUNK_ROWS + 1;
      const { rows: [made] } = await db.query(CHUNK_SQL, [first, Math.min(rows, first + CHUNK_ROWS - 1), rows, filledAt, sample.row, sample.laneJob]);
      counts.jobs += made.jobs;
      counts.attempts += made.attempts;
      counts.laneJobs += made.lane_jobs;
      if (k % 8 === 7) log(`  ${counts.jobs.toLocaleString('en')} jobs (${elapsed()})`);
    });
    // Triggers off (session_replication_role): job_activity's would count a month of jobs as made in
    // the fill's minutes; it is written below from the rows instead, as the month would have left it.
    await onConnections(url, chunks, `SET synchronous_commit = off; SET session_replication_role = replica`);
    log(`${counts.jobs.toLocaleString('en')} jobs, ${counts.attempts.toLocaleString('en')} attempts, ${counts.laneJobs.toLocaleString('en')} settled lane jobs written (${elapsed()})`);
    // Keys first (a foreign key needs the key it points at), then the other indexes, two at a time.
    const keys = definitions.constraints.filter((c) => !c.foreign);
    const builds = [...keys.map((c) => c.sql), ...definitions.indexes.map((index) => index.sql)].map((sql) => async (db: pg.Client) => {
      await db.query(sql);
    });
    await onConnections(url, builds, `SET maintenance_work_mem = '2GB'; SET max_parallel_maintenance_workers = 0`);
    await withClient(url, async (db) => {
      for (const c of definitions.constraints.filter((c) => c.foreign)) await db.query(c.sql);
      const rebuilt = await readDefinitions(db);
      if (JSON.stringify(rebuilt) !== JSON.stringify(definitions)) throw new Error('the rebuilt keys and indexes differ from those dropped');
    });
    log(`${keys.length} keys, ${definitions.indexes.length} indexes and ${definitions.constraints.length - keys.length} foreign keys rebuilt (${elapsed()})`);
    const activityRows = await withClient(url, async (db) => (await db.query(ACTIVITY_SQL)).rowCount);
    log(`${activityRows?.toLocaleString('en')} job_activity rows written from the month's jobs (${elapsed()})`);
    await onConnections(url, ['jobs', 'job_attempts', 'pgboss.job_common', 'job_activity'].map((table) => async (db: pg.Client) => {
      await db.query(`VACUUM (ANALYZE) ${table}`);
    }), `SET maintenance_work_mem = '1GB'`);
    log(`VACUUM ANALYZE done (${elapsed()})`);
    return { rows, key: fillKey(rows), filledAt: filledAt.toISOString(), seconds: Math.round((performance.now() - started) / 1000), counts, migrations: migrationHashes() };
  } finally {
    await withClient(adminUrl, async (db) => {
      await db.query(`ALTER SYSTEM RESET max_wal_size`);
      await db.query(`ALTER SYSTEM RESET checkpoint_timeout`);
      await db.query(`SELECT pg_reload_conf()`);
      await db.query(`CHECKPOINT`);
    });
  }
}

export function writeMarker(keptDir: string, marker: FillMarker): void {
  writeFileSync(join(keptDir, 'filled.json'), `${JSON.stringify(marker, null, 2)}\n`);
}

/** Where a fill of `rows` is kept between runs: a server of its own in the temporary directory. */
export function keptDirFor(rows: number): string {
  return join(tmpdir(), `switchyard-scale-${fillKey(rows)}`);
}

/**
 * Makes FULL_DATABASE on `server` (kept in `keptDir`) hold a fill of `rows`, reusing the one there
 * when it can (see whyNotUsable) and migrating it to the current migrations. Databases that runs
 * killed before their end left on the kept server are dropped first.
 */
export async function prepareFilledDatabase(server: BenchServer, target: BenchTarget, keptDir: string, rows: number,
  options: { maxAgeHours: number; refill: boolean }, log: (line: string) => void): Promise<void> {
  const { exists } = await withClient(server.urlOf('postgres'), async (admin) => {
    const { rows: left } = await admin.query(`SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', $1) AND NOT datistemplate`, [FULL_DATABASE]);
    for (const { datname } of left) await admin.query(`DROP DATABASE ${JSON.stringify(datname)} WITH (FORCE)`);
    return { exists: (await admin.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [FULL_DATABASE])).rows.length === 1 };
  });
  const kept = readMarker(keptDir);
  const unusable = options.refill ? '--refill' : exists ? whyNotUsable(kept, rows, options.maxAgeHours) : 'no filled database on the kept server';
  if (unusable === undefined) {
    const applied = await migrate(server.urlOf(FULL_DATABASE));
    writeMarker(keptDir, { ...kept!, migrations: migrationHashes() });
    const ageHours = (Date.now() - Date.parse(kept!.filledAt)) / 3_600_000;
    log(`reusing the fill in ${keptDir}: ${kept!.rows.toLocaleString('en')} jobs made ${ageHours.toFixed(1)} h ago in ${kept!.seconds} s` +
      (applied.length ? `; migrations applied to it now: ${applied.join(', ')}` : ''));
    return;
  }
  rmSync(join(keptDir, 'filled.json'), { force: true });
  log(`filling ${rows.toLocaleString('en')} finished jobs into ${keptDir} (${unusable})`);
  const marker = await fillFinishedJobs(server, target, FULL_DATABASE, rows, log);
  writeMarker(keptDir, marker);
  log(`filled in ${marker.seconds} s: ${JSON.stringify(marker.counts)}`);
}
