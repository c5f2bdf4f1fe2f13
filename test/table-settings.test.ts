// The autovacuum settings of the high-churn tables (docs/operations.md, "Table health"): `jobs` gets
// them from migration 0015, pg-boss's job table from the DB lane at every start that maintains it,
// since pg-boss creates that table only after the migrations have run on a new database.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { LANE_TABLE_SETTINGS } from '../src/lanes/db-lane.ts';
import { createTestDatabase } from './helpers/database.ts';
import { restJob, startTestService } from './helpers/service.ts';

const database = await createTestDatabase();
t.teardown(() => database.close());

const expected = Object.entries(LANE_TABLE_SETTINGS).map(([name, value]) => `${name}=${value}`);

async function reloptions(service: { pool: { query(sql: string): Promise<{ rows: { table: string; reloptions: string[] | null }[] }> } }) {
  const { rows } = await service.pool.query(
    `SELECT oid::regclass::text AS table, reloptions FROM pg_class WHERE oid IN ('jobs'::regclass, 'pgboss.job_common'::regclass)`,
  );
  return Object.fromEntries(rows.map((row) => [row.table, row.reloptions ?? []]));
}

t.test('a new database: jobs from the migration, the lane table once pg-boss has made it', async (t) => {
  const service = await startTestService(t, { database });
  const options = await reloptions(service);
  t.match(options.jobs, [/^autovacuum_vacuum_scale_factor=/], 'jobs has its settings');
  for (const setting of expected) t.ok(options['pgboss.job_common']!.includes(setting), `pgboss.job_common has ${setting}`);
  // What a table lost (a hand-made RESET, a restore) comes back at the next start.
  await service.pool.query(`ALTER TABLE pgboss.job_common RESET (${Object.keys(LANE_TABLE_SETTINGS).join(', ')})`);
});

t.test('the next start puts them back, and leaves a table that has them as it is', async (t) => {
  const service = await startTestService(t, { database });
  const options = await reloptions(service);
  for (const setting of expected) t.ok(options['pgboss.job_common']!.includes(setting), `pgboss.job_common has ${setting} again`);
  t.equal(options['pgboss.job_common']!.length, expected.length, 'each setting once');
});

t.test('ANALYZE of jobs computes no statistics for the message and answer columns, and keeps those of the queried ones', async (t) => {
  const service = await startTestService(t, { database });
  await service.pool.query(
    `INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, metadata, max_attempts, retry_policy, status, last_response)
     SELECT gen_random_uuid(), 'stats-' || (i % 3), 'db', 'rest-api', jsonb_build_object('body', repeat('x', 200) || i), '{"type": "rest-api"}',
            jsonb_build_object('order', i), 3, '{}', 'completed', jsonb_build_object('status', 200)
       FROM generate_series(1, 500) AS i`,
  );
  await service.pool.query('ANALYZE jobs');
  const { rows } = await service.pool.query(`SELECT attname FROM pg_stats WHERE schemaname = 'public' AND tablename = 'jobs'`);
  const analyzed = new Set(rows.map((row: { attname: string }) => row.attname));
  for (const column of ['lambda_proxy_message', 'execution_config', 'metadata', 'last_response', 'payload', 'retry_policy', 'traceparent', 'tracestate']) {
    t.notOk(analyzed.has(column), `no statistics for ${column}`);
  }
  for (const column of ['id', 'app_id', 'status', 'created_at', 'updated_at', 'message_group_id', 'idempotency_key', 'last_error']) {
    t.ok(analyzed.has(column), `statistics for ${column}`);
  }
});

// docs/operations.md, "Upgrading a large deployment": build 0019's indexes CONCURRENTLY first, then
// migrate. The migration must find them, build nothing twice and still drop the two they replace.
t.test('migration 0019 after its indexes were built concurrently: one of each, the old two gone, lists by type answer', async (t) => {
  const upgraded = await createTestDatabase();
  t.teardown(() => upgraded.close());
  const dir = new URL('../migrations', import.meta.url).pathname;
  const before = readdirSync(dir).filter((name) => name.endsWith('.sql') && name < '0019').length;
  await runner({ databaseUrl: upgraded.connectionString, dir, direction: 'up', count: before, migrationsTable: 'switchyard_migrations', checkOrder: true, log: () => {} });
  const client = new pg.Client({ connectionString: upgraded.connectionString });
  await client.connect();
  t.teardown(() => client.end());
  const indexes = async () => (await client.query(
    `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'jobs' AND indexname IN
       ('jobs_unfinished_status_idx', 'jobs_type_created_idx', 'jobs_status_next_retry_at_idx', 'jobs_execution_type_idx') ORDER BY 1`,
  )).rows as { indexname: string; indexdef: string }[];
  t.same((await indexes()).map((index) => index.indexname), ['jobs_execution_type_idx', 'jobs_status_next_retry_at_idx'], 'before 0019: the old two');
  await client.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_unfinished_status_idx ON jobs (status, next_retry_at)
                        WHERE status IN ('pending', 'running', 'retrying', 'scheduled')`);
  await client.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_type_created_idx ON jobs (execution_type, created_at DESC, id DESC)`);

  const service = await startTestService(t, { database: upgraded, env: { RUN_WORKERS: 'false' } });
  const after = await indexes();
  t.same(after.map((index) => index.indexname), ['jobs_type_created_idx', 'jobs_unfinished_status_idx'], 'the new two once each, the old two dropped');
  t.match(after.find((index) => index.indexname === 'jobs_unfinished_status_idx')!.indexdef, /WHERE \(status = ANY/, 'the status index holds unfinished jobs only');
  const created = await service.post('/v1/jobs/create', restJob('http://127.0.0.1:9'));
  t.equal(created.status, 202);
  const listed = await service.get('/v1/jobs?executionType=rest-api');
  t.equal(listed.status, 200);
  t.same(listed.body.jobs.map((job: { id: string }) => job.id), [created.body.id], 'a list by type finds the job');
});
