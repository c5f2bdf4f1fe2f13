// Every attempt of a job is visible, in SQL and over the API: each with its lane, start, end,
// outcome, status code, duration and error. A first attempt that completes in the DB lane is shown
// from the jobs row and writes no history row of its own.
import t from 'tap';
import { AppKeys } from '../src/apps/app-keys.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';

const service = await startTestService(t, { env: { RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });
const historyRows = async (id: string) => (await service.pool.query('SELECT count(*)::int AS n FROM job_attempts WHERE job_id = $1', [id])).rows[0].n;

t.test('503, 503, 200: three attempts with their outcomes, status codes and errors', async (t) => {
  const target = await startTarget((_request, index) => (index < 2 ? { status: 503, body: 'busy' } : { status: 200, body: 'done' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { retry: { maxAttempts: 5, baseDelaySeconds: 1, maxDelaySeconds: 1 } }));
  await service.waitForStatus(created.body.id, 'completed', 20_000);
  const { status, body } = await service.get(`/v1/jobs/${created.body.id}/attempts`);
  t.equal(status, 200);
  t.equal(body.jobId, created.body.id);
  t.match(body.attempts, [
    { attempt: 1, lane: 'db', outcome: 'retrying', httpStatus: 503, error: 'HTTP 503', durationMs: Number, startedAt: String, finishedAt: String },
    { attempt: 2, lane: 'db', outcome: 'retrying', httpStatus: 503, error: 'HTTP 503' },
    { attempt: 3, lane: 'db', outcome: 'completed', httpStatus: 200, error: null },
  ]);
  t.equal(body.attempts.length, 3);
  for (const attempt of body.attempts) t.ok(Date.parse(attempt.startedAt) <= Date.parse(attempt.finishedAt), 'each ends after it starts');
  t.equal(await historyRows(created.body.id), 3, 'in SQL: job_attempts holds all three');
});

t.test('a first attempt that completes is shown from the row and writes no history row', async (t) => {
  const target = await startTarget(() => ({ status: 204 }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url));
  await service.waitForStatus(created.body.id, 'completed');
  const { body } = await service.get(`/v1/jobs/${created.body.id}/attempts`);
  t.match(body.attempts, [{ attempt: 1, lane: 'db', outcome: 'completed', httpStatus: 204, durationMs: Number, error: null }]);
  t.equal(body.attempts.length, 1);
  t.equal(await historyRows(created.body.id), 0);
});

t.test('dead-lettered, then retried by hand: the old attempts stay and the new run shows after them', async (t) => {
  let failing = true;
  const target = await startTarget(() => (failing ? { status: 500, body: 'down' } : { status: 200 }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { retry: { maxAttempts: 2, baseDelaySeconds: 1, maxDelaySeconds: 1 } }));
  await service.waitForStatus(created.body.id, 'dead_lettered', 20_000);
  failing = false;
  t.equal((await service.post(`/v1/jobs/${created.body.id}/retry`, {})).status, 200);
  await service.waitForStatus(created.body.id, 'completed');
  const { body } = await service.get(`/v1/jobs/${created.body.id}/attempts`);
  t.match(body.attempts, [
    { attempt: 1, outcome: 'retrying', httpStatus: 500 },
    { attempt: 2, outcome: 'dead_lettered', httpStatus: 500, error: 'HTTP 500' },
    { attempt: 1, outcome: 'completed', httpStatus: 200 },
  ]);
  t.equal(body.attempts.length, 3);
});

t.test("an unknown job and another app's job are not found", async (t) => {
  t.equal((await service.get('/v1/jobs/01a230e1-8ec0-7593-8ec5-46ba28ee9590/attempts')).status, 404);
  t.equal((await service.get('/v1/jobs/not-a-uuid/attempts')).status, 404);
  const created = await service.post('/v1/jobs/create', restJob('http://127.0.0.1:9', { appId: 'owner', delaySeconds: 3600 }));
  const { key } = await new AppKeys(service.pool).createAppKey('stranger');
  t.equal((await service.get(`/v1/jobs/${created.body.id}/attempts`, { authorization: `Bearer ${key}` })).status, 404);
});
