// Bulk actions by filter: every matching job changed once, counts and progress reported, an
// interrupted run resumed by another process exactly where it stopped, app keys kept to their app.
import t from 'tap';
import { AppKeys } from '../src/apps/app-keys.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t);
let failing = true;
const target = await startTarget(() => (failing ? { status: 500, body: 'down' } : { status: 200 }));
t.teardown(() => target.close());
const statuses = async (appId: string) => (await service.pool.query(
  'SELECT status, count(*)::int AS n FROM jobs WHERE app_id = $1 GROUP BY status ORDER BY status', [appId],
)).rows.map((row) => `${row.status}:${row.n}`);

async function createMany(appId: string, count: number, overrides: Record<string, unknown> = {}): Promise<string[]> {
  const created = await service.post('/v1/jobs/batch', { jobs: Array.from({ length: count }, () => restJob(target.url, { appId, ...overrides })) });
  if (created.status !== 202) throw new Error(`batch failed: ${JSON.stringify(created.body)}`);
  return created.body.jobs.map((job: { id: string }) => job.id);
}

const finished = (id: string) => waitFor(async () => {
  const { body } = await service.get(`/v1/bulk-actions/${id}`);
  return body.status !== 'running' ? body : undefined;
}, { timeoutMs: 60_000, what: `bulk action ${id} to finish` });

t.test('a dead-lettered burst is retried by filter, each job once, and completes', async (t) => {
  const ids = await createMany('burst', 30, { retry: { maxAttempts: 1 } });
  await createMany('bystander', 3, { retry: { maxAttempts: 1 } });
  await waitFor(async () => (await statuses('burst')).join() === 'dead_lettered:30' && (await statuses('bystander')).join() === 'dead_lettered:3', { timeoutMs: 30_000, what: 'the burst to dead-letter' });
  failing = false;

  const dry = await service.post('/v1/bulk-actions', { action: 'retry', filter: { appId: 'burst', status: 'dead_lettered' }, dryRun: true });
  t.equal(dry.status, 200);
  t.same(dry.body, { action: 'retry', matched: 30, dryRun: true });
  t.same(await statuses('burst'), ['dead_lettered:30'], 'a dry run changes nothing');

  const started = await service.post('/v1/bulk-actions', { action: 'retry', filter: { appId: 'burst', status: 'dead_lettered' } });
  t.equal(started.status, 202);
  t.match(started.body, { action: 'retry', status: 'running', total: 30, filter: { appId: 'burst', status: 'dead_lettered' } });
  const done = await finished(started.body.id);
  t.match(done, { status: 'completed', total: 30, changed: 30, skipped: 0, lastError: null, finishedAt: String });
  await waitFor(async () => (await statuses('burst')).join() === 'completed:30', { timeoutMs: 30_000, what: 'the retried jobs to complete' });
  t.same(await statuses('bystander'), ['dead_lettered:3'], "another app's jobs are untouched");
  const attempts = await service.get(`/v1/jobs/${ids[0]}/attempts`);
  t.match(attempts.body.attempts, [{ outcome: 'dead_lettered' }, { outcome: 'completed' }], 'each job ran once more after the retry');
  t.equal(attempts.body.attempts.length, 2);
  const listed = await service.get('/v1/bulk-actions');
  t.equal(listed.body.bulkActions[0].id, started.body.id, 'the run is listed, newest first');
});

t.test('a job that leaves the allowed states between being read and being reached is skipped and counted', async (t) => {
  const [id] = await createMany('raced', 1, { delaySeconds: 3600 });
  // Hold the job's row, so the run reads it as a candidate and then waits to lock it.
  const holder = await service.pool.connect();
  t.teardown(() => holder.release());
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE', [id]);
  const started = await service.post('/v1/bulk-actions', { action: 'deadletter', filter: { appId: 'raced' } });
  t.equal(started.body.total, 1);
  await waitFor(async () => (await service.pool.query('SELECT 1 FROM pg_locks WHERE NOT granted')).rows.length > 0, { what: 'the run to wait for the row' });
  await holder.query("UPDATE jobs SET status = 'cancelled' WHERE id = $1", [id]);
  await holder.query('COMMIT');
  t.match(await finished(started.body.id), { status: 'completed', total: 1, changed: 0, skipped: 1 });
  t.equal((await service.job(id!))!.status, 'cancelled', 'the job someone else changed first keeps that change');
});

t.test('a run interrupted mid-way is resumed by another process where it stopped', async (t) => {
  await createMany('paused', 600, { delaySeconds: 3600 });
  const started = await service.post('/v1/bulk-actions', { action: 'cancel', filter: { appId: 'paused' } });
  t.equal(started.body.total, 600);
  await waitFor(async () => (await service.get(`/v1/bulk-actions/${started.body.id}`)).body.changed >= 20, { what: 'the run to get going' });
  // This process stops taking jobs, as a process that is shut down does.
  await service.bulkActions.stop();
  const interrupted = (await service.get(`/v1/bulk-actions/${started.body.id}`)).body;
  t.equal(interrupted.status, 'running');
  t.ok(interrupted.changed < 600, `interrupted after ${interrupted.changed} of 600`);
  t.same(await statuses('paused'), [`cancelled:${interrupted.changed}`, `pending:${600 - interrupted.changed}`], 'the counts say exactly what was changed');

  // Its lease runs out (30 s; shortened here), and another process picks the run up at its start.
  await service.pool.query("UPDATE bulk_actions SET lease_until = now() - interval '1 second' WHERE id = $1", [started.body.id]);
  const other = await startTestService(t, { database: service.database, env: { RUN_WORKERS: 'false' } });
  const done = await waitFor(async () => {
    const { body } = await other.get(`/v1/bulk-actions/${started.body.id}`);
    return body.status === 'completed' ? body : undefined;
  }, { timeoutMs: 60_000, what: 'the resumed run to complete' });
  t.match(done, { total: 600, changed: 600, skipped: 0 }, 'every job changed exactly once across both processes');
  t.same(await statuses('paused'), ['cancelled:600']);
});

t.test('bad requests name the field; an app key acts on its own jobs only; a run can be stopped', async (t) => {
  const noFilter = await service.post('/v1/bulk-actions', { action: 'retry', filter: {} });
  t.equal(noFilter.status, 400);
  t.match(noFilter.body.fields, [{ field: 'filter' }]);
  const wrongState = await service.post('/v1/bulk-actions', { action: 'retry', filter: { status: 'pending' } });
  t.equal(wrongState.status, 400);
  t.match(wrongState.body.fields, [{ field: 'filter.status', message: /retry takes jobs that are failed, dead_lettered/ }]);
  t.equal((await service.post('/v1/bulk-actions', { action: 'explode', filter: { appId: 'x' } })).status, 400);
  t.equal((await service.get('/v1/bulk-actions/not-a-uuid')).status, 404);
  t.equal((await service.get('/v1/bulk-actions/01a230e1-8ec0-7593-8ec5-46ba28ee9590')).body.error, 'bulk_action_not_found');

  await createMany('mine', 2, { delaySeconds: 3600 });
  await createMany('theirs', 2, { delaySeconds: 3600 });
  const { key } = await new AppKeys(service.pool).createAppKey('mine');
  const auth = { authorization: `Bearer ${key}` };
  t.equal((await service.post('/v1/bulk-actions', { action: 'cancel', filter: { appId: 'theirs' } }, auth)).status, 403);
  const own = await service.post('/v1/bulk-actions', { action: 'cancel', filter: { status: 'pending' } }, auth);
  t.equal(own.status, 202);
  t.equal(own.body.total, 2, 'only its own app matches');
  const other = await startTestService(t, { database: service.database, env: { RUN_WORKERS: 'false' } });
  await waitFor(async () => (await statuses('mine')).join() === 'cancelled:2', { what: 'its jobs to be cancelled' });
  t.same(await statuses('theirs'), ['pending:2']);
  t.equal((await other.get(`/v1/bulk-actions/${own.body.id}`)).status, 200, 'an admin key reads any app\'s run');
  t.equal((await service.get(`/v1/bulk-actions/${own.body.id}`, { authorization: `Bearer ${(await new AppKeys(service.pool).createAppKey('theirs')).key}` })).status, 404, "another app's key does not see it");

  const stopped = await service.post(`/v1/bulk-actions/${own.body.id}/cancel`, {}, auth);
  t.equal(stopped.status, 200);
  t.equal(stopped.body.status, 'completed', 'a run already over is answered as it is');
});
