// Batch create and the legacy contract (callback-http and the legacy runner), through a running
// Switchyard with its workers on and real loopback targets.
import t from 'tap';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t, { env: { RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });
const target = await startTarget((request) => (request.url.startsWith('/flaky') && !target.requests.some((r, i) => r.url === request.url && i < target.requests.indexOf(request))
  ? { status: 503, body: 'try again' }
  : { status: 200, body: 'ok' }));
t.teardown(() => target.close());

const countJobs = async (appId: string) => Number((await service.pool.query('SELECT count(*) FROM jobs WHERE app_id = $1', [appId])).rows[0].count);
const countLane = async (ids: string[]) => Number((await service.pool.query('SELECT count(*) FROM pgboss.job WHERE id = ANY($1::uuid[])', [ids])).rows[0].count);

t.test('a batch of 1,000 lands in one transaction, rows and lane entries together', async (t) => {
  const jobs = Array.from({ length: 1000 }, (_, i) => restJob(target.url, { appId: 'batch-1000', delaySeconds: 3600, ...(i % 2 ? { messageGroupId: `g${i % 7}` } : {}) }));
  const response = await service.post('/v1/jobs/batch', { jobs });
  t.equal(response.status, 202);
  t.equal(response.body.jobs.length, 1000);
  t.ok(response.body.jobs.every((job: { status: string; created: boolean }) => job.status === 'pending' && job.created));
  const ids: string[] = response.body.jobs.map((job: { id: string }) => job.id);
  t.equal(new Set(ids).size, 1000);

  const { rows } = await service.pool.query(
    `SELECT count(*)::int AS jobs, count(DISTINCT xmin::text)::int AS transactions FROM jobs WHERE app_id = 'batch-1000'`,
  );
  t.same(rows[0], { jobs: 1000, transactions: 1 }, 'every row was written by one transaction');
  const lane = await service.pool.query(
    `SELECT count(*)::int AS jobs, array_agg(DISTINCT xmin::text) AS transactions FROM pgboss.job WHERE id = ANY($1::uuid[])`, [ids],
  );
  const jobsXmin = (await service.pool.query(`SELECT DISTINCT xmin::text AS x FROM jobs WHERE app_id = 'batch-1000'`)).rows[0].x;
  t.same(lane.rows[0], { jobs: 1000, transactions: [jobsXmin] }, 'the lane entries were written by the same transaction');
});

t.test('a failure mid-way through a batch leaves nothing', async (t) => {
  // The lane refuses one job of the ordered queue, after the standard queue's entries and all rows are written.
  await service.pool.query(`
    CREATE FUNCTION refuse_batch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.singleton_key = 'explode' THEN RAISE EXCEPTION 'lane refuses'; END IF; RETURN NEW; END $$;
    CREATE TRIGGER refuse_batch BEFORE INSERT ON pgboss.job FOR EACH ROW EXECUTE FUNCTION refuse_batch();`);
  t.teardown(() => service.pool.query('DROP TRIGGER refuse_batch ON pgboss.job; DROP FUNCTION refuse_batch();'));
  const lanesBefore = Number((await service.pool.query('SELECT count(*) FROM pgboss.job')).rows[0].count);
  const jobs = Array.from({ length: 1000 }, (_, i) => restJob(target.url, { appId: 'batch-broken', ...(i === 600 ? { messageGroupId: 'explode' } : {}) }));
  const response = await service.post('/v1/jobs/batch', { jobs });
  t.equal(response.status, 500);
  t.equal(await countJobs('batch-broken'), 0, 'no row stays');
  t.equal(Number((await service.pool.query('SELECT count(*) FROM pgboss.job')).rows[0].count), lanesBefore, 'no lane entry stays');
  t.equal(target.requests.filter((request) => request.url === '/hook').length, 0, 'nothing ran');
});

t.test('one invalid item refuses the whole batch, naming the item and field', async (t) => {
  const jobs = Array.from({ length: 5 }, () => restJob(target.url, { appId: 'batch-invalid' }));
  jobs[3]!.message.execution.baseUrl = 'ftp://nope';
  (jobs[4] as any).mode = 'sqs';
  const response = await service.post('/v1/jobs/batch', { jobs });
  t.equal(response.status, 400);
  t.equal(response.body.error, 'validation_failed');
  t.match(response.body.fields, [{ field: 'jobs.3.message.execution.baseUrl' }]);
  t.equal(await countJobs('batch-invalid'), 0);

  jobs[3]!.message.execution.baseUrl = target.url;
  const lane = await service.post('/v1/jobs/batch', { jobs });
  t.equal(lane.status, 400);
  t.match(lane.body.fields, [{ field: 'jobs.4.mode' }], 'checks past the schema are named per item too');
  t.equal(await countJobs('batch-invalid'), 0);

  const tooMany = await service.post('/v1/jobs/batch', { jobs: Array.from({ length: 1001 }, () => jobs[0]) });
  t.equal(tooMany.status, 400);
  t.match(tooMany.body.fields, [{ field: 'jobs' }]);
  const empty = await service.post('/v1/jobs/batch', { jobs: [] });
  t.equal(empty.status, 400);
});

t.test('duplicate idempotency keys in a batch and against earlier jobs behave as single create', async (t) => {
  const job = (key: string) => restJob(target.url, { appId: 'batch-idem', idempotencyKey: key, delaySeconds: 3600 });
  const first = await service.post('/v1/jobs/batch', { jobs: [job('k1'), job('k2'), job('k1')] });
  t.equal(first.status, 202);
  const [k1, k2, k1again] = first.body.jobs;
  t.match(k1, { created: true, status: 'pending' });
  t.match(k2, { created: true });
  t.same(k1again, { id: k1.id, status: 'pending', created: false }, 'a repeat within the batch names the first');

  const single = await service.post('/v1/jobs/create', job('k3'));
  t.equal(single.status, 202);
  const second = await service.post('/v1/jobs/batch', { jobs: [job('k2'), job('k3'), job('k4')] });
  t.equal(second.status, 202);
  t.same(second.body.jobs.slice(0, 2), [{ id: k2.id, status: 'pending', created: false }, { id: single.body.id, status: 'pending', created: false }]);
  t.match(second.body.jobs[2], { created: true });
  const singleAgain = await service.post('/v1/jobs/create', job('k4'));
  t.same(singleAgain.body, { id: second.body.jobs[2].id, status: 'pending' });
  t.equal(singleAgain.status, 200);

  const allRepeats = await service.post('/v1/jobs/batch', { jobs: [job('k1'), job('k4')] });
  t.equal(allRepeats.status, 200);
  t.equal(await countJobs('batch-idem'), 4);
  t.equal(await countLane([k1.id, k2.id, single.body.id, second.body.jobs[2].id]), 4, 'one lane entry per job');
});

t.test('a batch keeps the order of its items within a message group', async (t) => {
  const jobs = Array.from({ length: 12 }, (_, i) => restJob(target.url, { appId: 'batch-order', messageGroupId: 'in-order' }, { path: `/order/${i}` }));
  const started = Date.now();
  const response = await service.post('/v1/jobs/batch', { jobs });
  t.equal(response.status, 202);
  await waitFor(async () => Number((await service.pool.query(`SELECT count(*) FROM jobs WHERE app_id = 'batch-order' AND status = 'completed'`)).rows[0].count) === 12,
    { what: 'the ordered batch to complete', timeoutMs: 60_000 });
  t.comment(`12 jobs of one group ran one after another in ${Date.now() - started} ms`);
  const received = target.requests.filter((request) => request.url.startsWith('/order/')).map((request) => Number(request.url.slice('/order/'.length)));
  t.same(received, Array.from({ length: 12 }, (_, i) => i));
});

t.test('legacy callback-http: a rest-api job that reaches the target and is kept with its legacy type', async (t) => {
  const body = {
    appId: 'legacy-app',
    url: `${target.url}/flaky/callback?x=1&x=2&y=3`,
    method: 'PUT',
    headers: { 'x-legacy': 'yes', authorization: 'Bearer legacy-secret' },
    body: { order: 7 },
    maxAttempts: 3,
  };
  const created = await service.post('/v1/jobs/callback-http', body);
  t.equal(created.status, 202);
  t.match(created.body, { id: String, status: 'pending' });

  const row = await service.waitForStatus(created.body.id, 'completed', 20_000);
  t.match(row, { type: 'callback-http', mode: 'db', execution_type: 'rest-api', attempts: 2, max_attempts: 3 });
  t.same(row.payload, body, 'the original body is kept as payload');
  const received = target.requests.filter((request) => request.url.startsWith('/flaky/callback'));
  t.equal(received.length, 2, 'retried like any other job after a 503');
  t.equal(received[1]!.method, 'PUT');
  t.equal(received[1]!.url, '/flaky/callback?x=1&x=2&y=3');
  t.equal(received[1]!.body.toString(), '{"order":7}');
  t.equal(received[1]!.headers['content-type'], 'application/json');
  t.equal(received[1]!.headers['x-legacy'], 'yes');
  t.equal(received[1]!.headers.authorization, 'Bearer legacy-secret');

  const read = await service.get(`/v1/jobs/${created.body.id}`);
  t.match(read.body, { type: 'callback-http', status: 'completed', payload: { headers: { authorization: '[redacted]', 'x-legacy': 'yes' } } });
  t.notOk(JSON.stringify(read.body).includes('legacy-secret'));
});

t.test('legacy callback-http: defaults, a string body, refusals', async (t) => {
  const created = await service.post('/v1/jobs/callback-http', { appId: 'legacy-app', url: `${target.url}/plain`, body: 'raw text' });
  t.equal(created.status, 202);
  await service.waitForStatus(created.body.id, 'completed');
  const received = target.requests.find((request) => request.url === '/plain');
  t.equal(received?.method, 'POST');
  t.equal(received?.body.toString(), 'raw text');

  const missing = await service.post('/v1/jobs/callback-http', { appId: 'legacy-refused' });
  t.equal(missing.status, 400);
  t.match(missing.body.fields, [{ field: 'url' }]);
  const credentials = await service.post('/v1/jobs/callback-http', { appId: 'legacy-refused', url: 'http://user:pw@127.0.0.1/x' });
  t.equal(credentials.status, 400);
  t.match(credentials.body.fields, [{ field: 'url' }]);
  const method = await service.post('/v1/jobs/callback-http', { appId: 'legacy-refused', url: target.url, method: 'BREW' });
  t.match(method.body.fields, [{ field: 'method' }]);
  const extra = await service.post('/v1/jobs/callback-http', { appId: 'legacy-refused', url: target.url, callbackAfter: 5 });
  t.match(extra.body.fields, [{ field: 'callbackAfter' }]);
  t.equal(await countJobs('legacy-refused'), 0);
});

t.test('legacy runner /internal/v1/jobs/run: same auth and answer as run-db-jobs', async (t) => {
  const refused = await service.post('/internal/v1/jobs/run', { limit: 5 });
  t.equal(refused.status, 401);
  const wrong = await service.post('/internal/v1/jobs/run', { limit: 5 }, { authorization: 'Bearer nope' });
  t.equal(wrong.status, 401);
  const badLimit = await service.post('/internal/v1/jobs/run', { limit: 0 }, { authorization: `Bearer ${INTERNAL_TOKEN}` });
  t.equal(badLimit.status, 400);
  t.match(badLimit.body.fields, [{ field: 'limit' }]);
  const ran = await service.post('/internal/v1/jobs/run', { limit: 5 }, { authorization: `Bearer ${INTERNAL_TOKEN}` });
  t.equal(ran.status, 200);
  t.match(ran.body, { claimed: Number, completed: Number, retrying: Number, failed: Number, deadLettered: Number, skipped: Number, recovered: Number });
});
