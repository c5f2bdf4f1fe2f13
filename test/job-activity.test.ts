// The dashboard's last hour comes from job_activity (migration 0017), counted by triggers as jobs are
// written. These tests drive jobs through every way they are created and end (create, batch, an
// idempotent repeat, the workers, a retry, failures, the admin routes, a rolled-back insert, many
// writers at once) and check the counts against what happened; then the pruner's share, and the
// migration's backfill of the hour before it ran.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { readLastMinutes } from '../src/admin/job-stats-repository.ts';
import { createTestDatabase } from './helpers/database.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t, { env: { RUN_WORKERS: 'false', RETAIN_COMPLETED: '1h', RETAIN_FAILED: '3h' } });
const internal = { authorization: `Bearer ${INTERNAL_TOKEN}` };
let flakyCalls = 0;
let deadRecovered = false;
const target = await startTarget((request) => {
  if (request.url === '/fail') return { status: 400, body: 'bad request' };
  if (request.url === '/dead') return deadRecovered ? { status: 200, body: 'ok' } : { status: 500, body: 'down' };
  if (request.url === '/flaky') return ++flakyCalls === 1 ? { status: 503, body: 'busy' } : { status: 200, body: 'ok' };
  return { status: 200, body: 'ok' };
});
t.teardown(() => target.close());

const create = async (path: string, overrides: Record<string, unknown> = {}) => {
  const created = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'activity-app', ...overrides }, { path }));
  if (created.status !== 202) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
  return created.body.id as string;
};
const runAll = async () => {
  const response = await service.post('/internal/v1/jobs/run', { limit: 100 }, internal);
  if (response.status !== 200) throw new Error(`run answered ${response.status}`);
};
/** The last hour as the dashboard reads it, summed. */
const lastHour = async () => {
  const minutes = await readLastMinutes(service.pool, 60);
  const sum = (field: 'created' | 'completed' | 'retried' | 'failed') => minutes.reduce((total, minute) => total + minute[field], 0);
  return { minutes: minutes.length, created: sum('created'), completed: sum('completed'), retried: sum('retried'), failed: sum('failed') };
};
/** What changed in the last hour's counts while `step` ran. */
const during = async (step: () => Promise<unknown>) => {
  const before = await lastHour();
  await step();
  const after = await lastHour();
  return { created: after.created - before.created, completed: after.completed - before.completed, retried: after.retried - before.retried, failed: after.failed - before.failed };
};

t.test('every way a job is created or ends is counted once, and nothing else is', async (t) => {
  t.equal((await lastHour()).minutes, 60, 'sixty minutes, zeros included');

  t.same(await during(() => create('/ok')), { created: 1, completed: 0, retried: 0, failed: 0 }, 'a create');
  const batch = await service.post('/v1/jobs/batch', { jobs: Array.from({ length: 7 }, () => restJob(target.url, { appId: 'activity-app', delaySeconds: 3600 })) });
  t.equal(batch.status, 202);
  const first = await create('/ok', { idempotencyKey: 'activity-once', delaySeconds: 3600 });
  t.same(await during(async () => {
    const again = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'activity-app', idempotencyKey: 'activity-once', delaySeconds: 3600 }));
    t.equal(again.body.id, first, 'the repeat names the first job');
  }), { created: 0, completed: 0, retried: 0, failed: 0 }, 'an idempotent repeat creates nothing and counts nothing');

  // The workers: one completes, one fails (400), one is dead-lettered (500 with one attempt), one
  // retries once and then completes.
  const failed = await create('/fail');
  const dead = await create('/dead', { retry: { maxAttempts: 1 } });
  const flaky = await create('/flaky', { retry: { maxAttempts: 3, baseDelaySeconds: 1, maxDelaySeconds: 1 } });
  t.same(await during(runAll), { created: 0, completed: 1, retried: 1, failed: 2 }, 'a run: the completed job (from the first create), the retry, the two failures');
  t.equal((await service.job(failed))?.status, 'failed');
  t.equal((await service.job(dead))?.status, 'dead_lettered');
  t.equal((await service.job(flaky))?.status, 'retrying');
  t.same(await during(() => waitFor(async () => {
    await runAll();
    return (await service.job(flaky))?.status === 'completed';
  }, { timeoutMs: 10_000, what: 'the retry to complete' })), { created: 0, completed: 1, retried: 0, failed: 0 }, 'the retry completes');

  // By hand.
  const waiting = await create('/never', { delaySeconds: 3600 });
  t.same(await during(() => service.post(`/v1/jobs/${waiting}/cancel`, {})), { created: 0, completed: 0, retried: 0, failed: 0 }, 'a cancel is neither a completion nor a failure');
  const toDeadLetter = await create('/never', { delaySeconds: 3600 });
  t.same(await during(() => service.post(`/v1/jobs/${toDeadLetter}/deadletter`, {})), { created: 0, completed: 0, retried: 0, failed: 1 }, 'a waiting job dead-lettered by hand failed');
  t.same(await during(() => service.post(`/v1/jobs/${failed}/deadletter`, {})), { created: 0, completed: 0, retried: 0, failed: 0 }, 'a failed job dead-lettered by hand has already counted');
  t.equal((await service.job(failed))?.status, 'dead_lettered');
  t.same(await during(async () => {
    t.equal((await service.post(`/v1/jobs/${dead}/retry`, {})).status, 200);
    deadRecovered = true;
    await runAll();
    t.equal((await service.job(dead))?.status, 'completed');
  }), { created: 0, completed: 1, retried: 0, failed: 0 }, 'a dead-lettered job retried by hand that completes is a completion (the counts are events)');

  // A rolled-back insert leaves no count.
  t.same(await during(async () => {
    const client = await service.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO jobs SELECT * FROM jobs WHERE id = $1 ON CONFLICT DO NOTHING`, [waiting]); // conflicts: nothing inserted
      await client.query(`INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, max_attempts, retry_policy)
                          SELECT gen_random_uuid(), app_id, mode, execution_type, lambda_proxy_message, execution_config, max_attempts, retry_policy FROM jobs WHERE id = $1`, [waiting]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  }), { created: 0, completed: 0, retried: 0, failed: 0 }, 'an insert that rolls back, and one that inserted nothing');
});

t.test('many writers at once: each create counted exactly once, and none waits on another', async (t) => {
  const before = await lastHour();
  const startedAt = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < 400) {
      next++;
      await create('/later', { delaySeconds: 3600 });
    }
  }));
  const tookMs = Date.now() - startedAt;
  const after = await lastHour();
  t.equal(after.created - before.created, 400, '400 creates on 16 connections, 400 counted');
  const { rows: [rows] } = await service.pool.query(
    `SELECT count(DISTINCT backend)::int AS sessions FROM job_activity WHERE minute >= date_trunc('minute', now()) - interval '1 minute' AND backend <> 0`,
  );
  t.ok(rows.sessions > 1, `counted on ${rows.sessions} sessions' rows, one each, so no writer waits on another's (${tookMs} ms)`);
});

t.test('the pruner deletes per-minute counts older than RETAIN_COMPLETED, and only those', async (t) => {
  await service.pool.query(
    `INSERT INTO job_activity (minute, backend, created) VALUES
       (date_trunc('minute', now()) - interval '2 hours', 0, 5), (date_trunc('minute', now()) - interval '61 minutes', 1, 5),
       (date_trunc('minute', now()) - interval '50 minutes', 0, 5)`,
  );
  const kept = await lastHour();
  const result = await service.pruner.run();
  t.equal(result.activityMinutes, 2, 'the two rows older than an hour');
  const { rows: [old] } = await service.pool.query(`SELECT count(*)::int AS n FROM job_activity WHERE minute < now() - interval '1 hour'`);
  t.equal(old.n, 0);
  t.same(await lastHour(), kept, 'the last hour is untouched');
});

t.test('the migration counts the hour before it ran from the rows, once', async (t) => {
  const database = await createTestDatabase();
  t.teardown(() => database.close());
  const before = readdirSync(new URL('../migrations', import.meta.url)).filter((name) => name.endsWith('.sql') && name < '0017').length;
  await runner({
    databaseUrl: database.connectionString, dir: new URL('../migrations', import.meta.url).pathname, direction: 'up', count: before,
    migrationsTable: 'switchyard_migrations', checkOrder: true, log: () => {},
  });
  const client = new pg.Client({ connectionString: database.connectionString });
  await client.connect();
  t.teardown(() => client.end());
  // Four jobs created 10 minutes ago: two completed 5 minutes ago, one failed, one still waiting after
  // a retried attempt; and one created and completed two hours ago, outside the hour.
  // Half a minute into each minute named, from one reading of the clock: a minute starting between
  // here and the count moves the window, not which minute a row falls in.
  const { rows: [{ base }] } = await client.query(`SELECT date_trunc('minute', now()) AS base`);
  const minuteAgo = (n: number) => new Date(base.getTime() - n * 60_000);
  const insert = (createdMinutesAgo: number, status: string, completedMinutesAgo: number | null) => client.query(
    `INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, max_attempts, retry_policy, status, created_at, completed_at)
     VALUES (gen_random_uuid(), 'before', 'db', 'rest-api', '{}', '{}', 3, '{}', $1, $2::timestamptz + interval '30 seconds',
             $3::timestamptz + interval '30 seconds') RETURNING id`,
    [status, minuteAgo(createdMinutesAgo), completedMinutesAgo === null ? null : minuteAgo(completedMinutesAgo)],
  );
  await insert(10, 'completed', 5);
  await insert(10, 'completed', 5);
  await insert(10, 'failed', 5);
  const { rows: [retrying] } = await insert(10, 'retrying', null);
  await client.query(`INSERT INTO job_attempts (job_id, attempt, lane, started_at, finished_at, outcome) VALUES ($1, 1, 'db', $2, $2, 'retrying')`, [retrying.id, minuteAgo(6)]);
  await insert(120, 'completed', 119);

  const migrated = await startTestService(t, { database, env: { RUN_WORKERS: 'false' } });
  const minutes = await readLastMinutes(migrated.pool, 60);
  const total = (field: 'created' | 'completed' | 'retried' | 'failed') => minutes.reduce((sum, minute) => sum + minute[field], 0);
  t.same({ created: total('created'), completed: total('completed'), retried: total('retried'), failed: total('failed') }, { created: 4, completed: 2, retried: 1, failed: 1 });
  const at = (minutesAgo: number) => minutes.find((minute) => minute.minute.getTime() === minuteAgo(minutesAgo).getTime())!;
  t.equal(at(10).created, 4, 'created in the minute they were created');
  t.match(at(5), { completed: 2, failed: 1 }, 'ended in the minute they ended');
  t.equal(at(6).retried, 1);
  const { rows: indexes } = await client.query(`SELECT indexname FROM pg_indexes WHERE indexname IN ('jobs_completed_at_idx', 'job_attempts_finished_idx')`);
  t.same(indexes, [{ indexname: 'job_attempts_finished_idx' }], 'the index only the old count read is gone; the one operators query attempts by stays');
});
