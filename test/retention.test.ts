// Retention: finished jobs past RETAIN_COMPLETED / RETAIN_FAILED are deleted with their attempt
// history and pg-boss entries, nothing else is, one process prunes at a time, and a pruned job is
// gone from the API. Jobs reach each status the way they do in production (a real target, the
// admin routes); only their finish time is moved back, since nobody waits a week in a test.
import t from 'tap';
import pg from 'pg';
import { parseConfig } from '../src/config/config.ts';
import { ADMIN_AUTH, INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const HOUR = 3600;
const service = await startTestService(t, {
  env: { RUN_WORKERS: 'false', RETAIN_COMPLETED: '1h', RETAIN_FAILED: '3h', PRUNE_BATCH_SIZE: '3' },
});
const internal = { authorization: `Bearer ${INTERNAL_TOKEN}` };
const target = await startTarget((request) => {
  if (request.url === '/fail') return { status: 400, body: 'bad request' };
  if (request.url === '/dead') return { status: 500, body: 'down' };
  return { status: 200, body: 'ok' };
});
t.teardown(() => target.close());

const create = async (path: string, overrides: Record<string, unknown> = {}) => {
  const created = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'retention-app', ...overrides }, { path }));
  if (created.status !== 202) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
  return created.body.id as string;
};
const runAll = async () => {
  const response = await service.post('/internal/v1/jobs/run', { limit: 100 }, internal);
  if (response.status !== 200) throw new Error(`run answered ${response.status}`);
};
/** Moves a job's finish (and creation) back by `hours`, as if that much time had passed. */
const age = (id: string, hours: number) => service.pool.query(
  `UPDATE jobs SET updated_at = now() - make_interval(secs => $2), created_at = created_at - make_interval(secs => $2) WHERE id = $1`,
  [id, hours * HOUR],
);
const exists = async (id: string) => (await service.pool.query('SELECT 1 FROM jobs WHERE id = $1', [id])).rowCount === 1;
const attemptRows = async (id: string) => Number((await service.pool.query('SELECT count(*) FROM job_attempts WHERE job_id = $1', [id])).rows[0].count);
const laneRows = async (id: string) => Number((await service.pool.query('SELECT count(*) FROM pgboss.job WHERE id = $1', [id])).rows[0].count);

/** One job in each finished status, finished `hours` ago. */
async function finishedJobs(hours: number) {
  const completed = await create('/ok');
  const failed = await create('/fail');
  const deadLettered = await create('/dead', { retry: { maxAttempts: 1 } });
  const cancelled = await create('/never', { delaySeconds: 3600 });
  t.equal((await service.post(`/v1/jobs/${cancelled}/cancel`, {})).status, 200);
  await runAll();
  for (const [id, status] of [[completed, 'completed'], [failed, 'failed'], [deadLettered, 'dead_lettered'], [cancelled, 'cancelled']] as const) {
    t.equal((await service.job(id))?.status, status, `the ${status} job is ${status}`);
    await age(id, hours);
  }
  return { completed, failed, deadLettered, cancelled };
}

t.test('jobs past their retention are pruned with their history and lane entries, and nothing else is', async (t) => {
  const old = await finishedJobs(4); // past both retentions
  const middle = await finishedJobs(2); // past RETAIN_COMPLETED only
  const young = await finishedJobs(0.5); // within both
  // Not finished, and older than any retention: never pruned.
  const waiting = await create('/later', { delaySeconds: 30 * 24 * 3600 });
  await age(waiting, 24 * 30);
  const retrying = await create('/dead', { retry: { maxAttempts: 5, baseDelaySeconds: 3600 } });
  await runAll();
  t.equal((await service.job(retrying))?.status, 'retrying');
  await age(retrying, 24 * 30);

  t.ok(await attemptRows(old.failed) > 0, 'the failed job has an attempt history before it is pruned');
  t.ok(await laneRows(old.completed) > 0, 'the completed job still has its settled pg-boss entry before it is pruned');

  const result = await service.pruner.run();
  t.match(result, { ran: true, done: true, jobs: { completed: 2, failed: 1, dead_lettered: 1, cancelled: 1 } });
  t.ok(result.batches >= 3, `PRUNE_BATCH_SIZE=3 keeps each statement small (${result.batches} batches)`);

  const gone = [old.completed, old.failed, old.deadLettered, old.cancelled, middle.completed];
  const kept = [middle.failed, middle.deadLettered, middle.cancelled, ...Object.values(young), waiting, retrying];
  for (const id of gone) {
    t.notOk(await exists(id), `${id} is pruned`);
    t.equal(await attemptRows(id), 0, 'its attempt history goes with it');
    t.equal(await laneRows(id), 0, 'its pg-boss entries go with it');
    const answer = await service.get(`/v1/jobs/${id}`);
    t.equal(answer.status, 404, 'a pruned job answers 404');
    t.match(answer.body, { error: String });
    t.equal((await service.get(`/v1/jobs/${id}/attempts`)).status, 404, 'and so does its history');
  }
  for (const id of kept) t.ok(await exists(id), `${id} is kept`);
  t.equal((await service.get(`/v1/jobs/${waiting}`)).body.status, 'pending', 'the waiting job is untouched');
  t.ok(await laneRows(waiting) === 1 && await laneRows(retrying) === 1, 'unfinished jobs keep their lane entries');
  const listed = (await service.get('/v1/jobs?appId=retention-app&limit=100')).body;
  const listedIds = new Set((listed.jobs ?? listed.items ?? listed.data).map((job: { id: string }) => job.id));
  for (const id of gone) t.notOk(listedIds.has(id), 'a pruned job is not listed');

  const again = await service.pruner.run();
  t.match(again, { ran: true, done: true, jobs: { completed: 0, failed: 0, dead_lettered: 0, cancelled: 0 } }, 'a second run finds nothing');

  const metrics = await service.get('/metrics', ADMIN_AUTH);
  t.match(metrics.body, /switchyard_pruned_total\{kind="completed"\} 2/);
  t.match(metrics.body, /switchyard_pruned_total\{kind="cancelled"\} 1/);
  t.match(metrics.body, /switchyard_prune_runs_total\{result="done"\} 2/);
  t.ok(service.logs.some((line) => /pruner: deleted 5 expired job\(s\)/.test(line)), 'the run is logged with what it deleted');
});

t.test('rejected SQS messages and finished bulk actions are kept as long as failed jobs', async (t) => {
  await service.pool.query(
    `INSERT INTO sqs_rejected_messages (message_id, body, error, received_at)
     VALUES ('old-message', 'x', 'not json', now() - interval '4 hours'), ('young-message', 'x', 'not json', now())`,
  );
  await service.pool.query(
    `INSERT INTO bulk_actions (id, action, filter, requested_by, status, snapshot_at, total, finished_at)
     VALUES (gen_random_uuid(), 'retry', '{}', 'admin', 'completed', now(), 0, now() - interval '4 hours'),
            (gen_random_uuid(), 'retry', '{}', 'admin', 'running', now(), 0, NULL)`,
  );
  const result = await service.pruner.run();
  t.match(result, { rejectedMessages: 1, bulkActions: 1 });
  t.same((await service.pool.query('SELECT message_id FROM sqs_rejected_messages')).rows, [{ message_id: 'young-message' }]);
  t.same((await service.pool.query('SELECT status FROM bulk_actions')).rows, [{ status: 'running' }]);
});

t.test('a finished job retried by hand is unfinished again: it is not pruned', async (t) => {
  const id = await create('/fail');
  await runAll();
  await age(id, 4);
  t.equal((await service.post(`/v1/jobs/${id}/retry`, {})).status, 200);
  await service.pruner.run();
  t.equal((await service.job(id))?.status, 'pending', 'the retried job waits for its new attempt');
});

t.test('two service processes never prune at once', async (t) => {
  const second = await startTestService(t, {
    database: service.database,
    env: { RUN_WORKERS: 'false', RETAIN_COMPLETED: '1h', RETAIN_FAILED: '3h', PRUNE_BATCH_SIZE: '5' },
  });
  // 200 expired rows, inserted straight in SQL: 40 batches with a pause after each, so a run lasts
  // long enough for the other process's runs to try again and again while it holds the lock.
  await service.pool.query(
    `INSERT INTO jobs (id, app_id, mode, execution_type, lambda_proxy_message, execution_config, status, attempts, max_attempts,
                       retry_policy, created_at, updated_at, completed_at)
     SELECT gen_random_uuid(), 'retention-app', 'db', 'rest-api', '{}', '{}', 'completed', 1, 5, '{}',
            now() - interval '5 hours', now() - interval '5 hours', now() - interval '5 hours'
       FROM generate_series(1, 200)`,
  );
  const runs: { who: string; ran: boolean; from: number; to: number; deleted: number }[] = [];
  const keepRunning = async (who: string, pruner: typeof service.pruner) => {
    for (let i = 0; i < 30; i++) {
      const from = performance.now();
      const result = await pruner.run();
      runs.push({ who, ran: result.ran, from, to: performance.now(), deleted: result.jobs.completed });
      if (!result.ran) await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  await Promise.all([keepRunning('first', service.pruner), keepRunning('second', second.pruner)]);
  const ran = runs.filter((run) => run.ran).sort((a, b) => a.from - b.from);
  t.ok(runs.some((run) => !run.ran), 'a process that finds the other pruning does nothing');
  for (let i = 1; i < ran.length; i++) t.ok(ran[i]!.from >= ran[i - 1]!.to, `run ${i} began after run ${i - 1} ended`);
  t.equal(ran.reduce((sum, run) => sum + run.deleted, 0), 200, 'every expired row was deleted exactly once');
});

t.test('a pruner whose connection holds the lock and dies frees it: the next process prunes', async (t) => {
  const holder = new pg.Client({ connectionString: service.database.connectionString });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [0x5e1ec7ee]);
  t.match(await service.pruner.run(), { ran: false }, 'held elsewhere: this process does nothing');
  await holder.end(); // the holding process is gone, and its session with it
  t.match(await service.pruner.run(), { ran: true, done: true });
});

t.test('worker processes prune on their timer', async (t) => {
  const timed = await startTestService(t, { env: { RETAIN_COMPLETED: '1m', PRUNE_INTERVAL_SECONDS: '1' } });
  const created = await timed.post('/v1/jobs/create', restJob(target.url, { appId: 'retention-app' }, { path: '/ok' }));
  const id = created.body.id as string;
  await timed.waitForStatus(id, 'completed');
  await timed.pool.query(`UPDATE jobs SET updated_at = now() - interval '2 minutes' WHERE id = $1`, [id]);
  await waitFor(async () => (await timed.pool.query('SELECT 1 FROM jobs WHERE id = $1', [id])).rowCount === 0, { timeoutMs: 5_000 });
  t.pass('the expired job was pruned within a few timer ticks');
});

t.test('pg-boss keeps settled lane jobs no longer than the shortest retention', async (t) => {
  const { rows } = await service.pool.query(`SELECT name, deletion_seconds FROM pgboss.queue WHERE name LIKE 'switchyard-jobs%' ORDER BY name`);
  t.same(rows, [{ name: 'switchyard-jobs', deletion_seconds: HOUR }, { name: 'switchyard-jobs-ordered', deletion_seconds: HOUR }]);
});

t.test('retention periods are read as durations, and refused when they make no sense', async (t) => {
  const retention = (env: Record<string, string>) => parseConfig(env).retention;
  t.match(retention({}), { completedSeconds: 7 * 24 * HOUR, failedSeconds: 30 * 24 * HOUR, intervalSeconds: 60, batchSize: 1000 });
  t.match(retention({ RETAIN_COMPLETED: '12h', RETAIN_FAILED: '90m' }), { completedSeconds: 12 * HOUR, failedSeconds: 90 * 60 });
  t.match(retention({ RETAIN_COMPLETED: '600', RETAIN_FAILED: 'forever' }), { completedSeconds: 600, failedSeconds: undefined });
  t.throws(() => parseConfig({ RETAIN_COMPLETED: '10s' }), /RETAIN_COMPLETED must be between 60 seconds/);
  t.throws(() => parseConfig({ RETAIN_FAILED: 'a week' }), /RETAIN_FAILED must be a duration/);
  t.throws(() => parseConfig({ PRUNE_BATCH_SIZE: '0' }), /PRUNE_BATCH_SIZE must be between 1 and 10000/);
});
