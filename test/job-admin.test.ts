// Reading, listing and acting on jobs over HTTP. Workers are off: jobs run only when a test calls
// the runner (the legacy /internal/v1/jobs/run here), so every step is deterministic.
import t from 'tap';
import { newJobId } from '../src/jobs/job-id.ts';
import { DbLane } from '../src/lanes/db-lane.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget, type TargetReply } from './helpers/target.ts';

const service = await startTestService(t, { env: { RUN_WORKERS: 'false' } });
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };

let reply: (path: string) => TargetReply | Promise<TargetReply> = () => ({ status: 200, body: 'ok' });
const target = await startTarget((request) => reply(request.url));
t.teardown(() => target.close());

const run = async (limit = 100) => {
  const response = await service.post('/internal/v1/jobs/run', { limit }, auth);
  if (response.status !== 200) throw new Error(`run answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
};
const create = async (overrides: Record<string, any> = {}, proxy: Record<string, any> = {}) => {
  const created = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'admin-app', ...overrides }, proxy));
  if (created.status !== 202) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
  return created.body.id as string;
};
const laneJob = async (id: string) =>
  (await service.pool.query('SELECT state, retry_count FROM pgboss.job WHERE id = $1', [id])).rows[0] as { state: string; retry_count: number } | undefined;

t.test('GET /v1/jobs/:id returns the whole record with secret header values redacted', async (t) => {
  const id = await create({
    messageGroupId: 'read-group',
    idempotencyKey: 'read-1',
    execution: { headers: { authorization: 'Bearer exec-secret', 'x-api-key': 'key-secret', 'x-plain': 'visible' } },
  }, {
    path: '/read',
    headers: { 'content-type': 'application/json', cookie: 'session=cookie-secret', 'x-upstream-token': 'token-secret' },
    multiValueHeaders: { 'x-hub-signature-256': ['sig-secret'], 'x-multi': ['a', 'b'] },
  });
  const response = await service.get(`/v1/jobs/${id}`);
  t.equal(response.status, 200);
  t.match(response.body, {
    id, appId: 'admin-app', mode: 'db', executionType: 'rest-api', status: 'pending', attempts: 0, maxAttempts: Number,
    messageGroupId: 'read-group', idempotencyKey: 'read-1', nextRetryAt: null, lastError: null, lastResponse: null,
    createdAt: String, updatedAt: String, startedAt: null, completedAt: null, type: null, payload: null,
  });
  t.same(response.body.message.execution.headers, { authorization: '[redacted]', 'x-api-key': '[redacted]', 'x-plain': 'visible' });
  t.same(response.body.message.lambdaProxyMessage.headers, { 'content-type': 'application/json', cookie: '[redacted]', 'x-upstream-token': '[redacted]' });
  t.same(response.body.message.lambdaProxyMessage.multiValueHeaders, { 'x-hub-signature-256': ['[redacted]'], 'x-multi': ['a', 'b'] });
  const text = JSON.stringify(response.body);
  for (const secret of ['exec-secret', 'key-secret', 'cookie-secret', 'token-secret', 'sig-secret']) t.notOk(text.includes(secret), `${secret} is not in the response`);

  // Redaction is in the answer only: the target still gets the real values.
  await run();
  const received = target.requests.find((request) => request.url === '/read');
  t.equal(received?.headers.authorization, 'Bearer exec-secret');
  t.equal(received?.headers.cookie, 'session=cookie-secret');
  const done = await service.get(`/v1/jobs/${id}`);
  t.match(done.body, { status: 'completed', attempts: 1, lastError: null, lastResponse: { status: 200, body: 'ok' }, startedAt: String, completedAt: String });
});

t.test('GET /v1/jobs/:id of an unknown or malformed id is 404', async (t) => {
  const unknown = await service.get(`/v1/jobs/${newJobId()}`);
  t.equal(unknown.status, 404);
  t.equal(unknown.body.error, 'job_not_found');
  const malformed = await service.get('/v1/jobs/not-a-uuid');
  t.equal(malformed.status, 404);
});

t.test('retry: a failed job runs again with a fresh set of attempts', async (t) => {
  let calls = 0;
  reply = (path) => (path === '/flaky' ? (calls++ === 0 ? { status: 400, body: 'bad' } : { status: 200, body: 'fine' }) : { status: 200 });
  const id = await create({}, { path: '/flaky' });
  await run();
  const failed = await service.get(`/v1/jobs/${id}`);
  t.match(failed.body, { status: 'failed', attempts: 1, lastError: 'HTTP 400', lastResponse: { status: 400, body: 'bad' }, completedAt: String });
  t.match(await laneJob(id), { state: 'completed' }, 'a job that ended releases its lane entry');

  const retried = await service.post(`/v1/jobs/${id}/retry`, {});
  t.equal(retried.status, 200);
  t.match(retried.body, { id, status: 'pending', attempts: 0, completedAt: null, lastError: 'HTTP 400' });
  t.match(await laneJob(id), { state: 'created', retry_count: 0 }, 'the lane holds the job again under the same id, in the same commit');

  t.match(await run(), { claimed: 1, completed: 1 });
  t.match((await service.get(`/v1/jobs/${id}`)).body, { status: 'completed', attempts: 1, lastError: null, lastResponse: { status: 200, body: 'fine' } });
  t.equal(calls, 2);

  const again = await service.post(`/v1/jobs/${id}/retry`, {});
  t.equal(again.status, 409);
  t.match(again.body, { error: 'invalid_state', id, status: 'completed' });
  const unknown = await service.post(`/v1/jobs/${newJobId()}/retry`, {});
  t.equal(unknown.status, 404);
});

t.test('retry: a dead-lettered job runs again', async (t) => {
  reply = (path) => (path === '/exhausted' ? { status: 503, body: 'down' } : { status: 200 });
  const id = await create({ retry: { maxAttempts: 1 } }, { path: '/exhausted' });
  await run();
  t.match((await service.get(`/v1/jobs/${id}`)).body, { status: 'dead_lettered', attempts: 1, lastError: 'HTTP 503' });
  reply = () => ({ status: 200, body: 'back' });
  t.equal((await service.post(`/v1/jobs/${id}/retry`, {})).status, 200);
  await run();
  t.match((await service.get(`/v1/jobs/${id}`)).body, { status: 'completed', attempts: 1 });
});

t.test('retry is atomic: when the lane refuses, the row stays as it was', async (t) => {
  reply = () => ({ status: 400 });
  const id = await create({ messageGroupId: 'lane-refuses' });
  await run();
  await service.pool.query(`
    CREATE FUNCTION refuse_group() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.singleton_key = 'lane-refuses' THEN RAISE EXCEPTION 'lane refuses'; END IF; RETURN NEW; END $$;
    CREATE TRIGGER refuse_group BEFORE INSERT ON pgboss.job FOR EACH ROW EXECUTE FUNCTION refuse_group();`);
  t.teardown(() => service.pool.query('DROP TRIGGER refuse_group ON pgboss.job; DROP FUNCTION refuse_group();'));
  const refused = await service.post(`/v1/jobs/${id}/retry`, {});
  t.equal(refused.status, 500);
  t.match(await service.job(id), { status: 'failed', attempts: 1 });
  t.match(await laneJob(id), { state: 'completed' }, 'the deleted lane entry came back with the rollback');
});

t.test('cancel: a pending job never runs', async (t) => {
  reply = () => ({ status: 200 });
  const id = await create({ delaySeconds: 3600 }, { path: '/cancelled' });
  const cancelled = await service.post(`/v1/jobs/${id}/cancel`, {});
  t.equal(cancelled.status, 200);
  t.match(cancelled.body, { id, status: 'cancelled', completedAt: String, nextRetryAt: null });
  t.equal(await laneJob(id), undefined, 'the lane no longer holds it');

  const again = await service.post(`/v1/jobs/${id}/cancel`, {});
  t.equal(again.status, 409);
  t.match(again.body, { error: 'invalid_state', id, status: 'cancelled' });
  t.equal((await service.post(`/v1/jobs/${newJobId()}/cancel`, {})).status, 404);
});

t.test('cancel: a retrying job stops retrying and its group moves on', async (t) => {
  reply = (path) => (path === '/busy' ? { status: 503 } : { status: 200 });
  const first = await create({ messageGroupId: 'cancel-group', retry: { maxAttempts: 5, baseDelaySeconds: 3600 } }, { path: '/busy' });
  await run();
  t.match(await service.job(first), { status: 'retrying', attempts: 1 });
  const second = await create({ messageGroupId: 'cancel-group' }, { path: '/after-cancel' });
  t.match(await run(), { claimed: 0 }, 'the second job waits behind the retrying first job of its group');

  const cancelled = await service.post(`/v1/jobs/${first}/cancel`, {});
  t.equal(cancelled.status, 200);
  t.match(cancelled.body, { status: 'cancelled', attempts: 1, lastError: 'HTTP 503', nextRetryAt: null });
  t.equal(await laneJob(first), undefined);
  t.match(await run(), { claimed: 1, completed: 1 });
  t.equal((await service.job(second))?.status, 'completed');

  const done = await service.post(`/v1/jobs/${second}/cancel`, {});
  t.equal(done.status, 409);
  t.match(done.body, { status: 'completed' });
});

t.test('a job cancelled after a worker claimed it is not run; a running job cannot be cancelled', async (t) => {
  // A second lane on the same database claims the way a worker does, so the test can act between
  // the claim and the run.
  const lane = await DbLane.start(service.database.connectionString, service.config.worker, () => {});
  t.teardown(() => lane.stop(1000));
  reply = () => ({ status: 200 });

  const claimedFirst = await create({ messageGroupId: 'claim-race' }, { path: '/claimed-then-cancelled' });
  const claimed = await lane.fetchDue(10);
  t.same(claimed.map((job) => job.id), [claimedFirst]);
  t.match((await service.post(`/v1/jobs/${claimedFirst}/cancel`, {})).body, { status: 'cancelled' }, 'a claimed job not yet running can be cancelled');
  t.match(await service.jobs.runLaneBatch(claimed), { claimed: 1, skipped: 1, completed: 0 });
  t.equal((await service.job(claimedFirst))?.status, 'cancelled');
  t.notOk(target.requests.some((request) => request.url === '/claimed-then-cancelled'), 'the target was never called');

  let answer!: () => void;
  const answered = new Promise<void>((resolve) => { answer = resolve; });
  reply = (path) => (path === '/slow' ? answered.then(() => ({ status: 200 })) : { status: 200 });
  const slow = await create({}, { path: '/slow' });
  const running = service.jobs.runLaneBatch(await lane.fetchDue(10));
  await service.waitForStatus(slow, 'running');
  for (const action of ['cancel', 'deadletter', 'retry']) {
    const refused = await service.post(`/v1/jobs/${slow}/${action}`, {});
    t.equal(refused.status, 409, action);
    t.match(refused.body, { status: 'running' });
  }
  answer();
  t.match(await running, { completed: 1 });
});

t.test('deadletter: pending and failed jobs; not finished ones', async (t) => {
  reply = (path) => (path === '/fails' ? { status: 422 } : { status: 200 });
  const pending = await create({ delaySeconds: 3600 });
  const parked = await service.post(`/v1/jobs/${pending}/deadletter`, {});
  t.equal(parked.status, 200);
  t.match(parked.body, { status: 'dead_lettered', lastError: 'dead-lettered by hand before it failed', completedAt: String });
  t.equal(await laneJob(pending), undefined);

  const failing = await create({}, { path: '/fails' });
  await run();
  const failed = await service.post(`/v1/jobs/${failing}/deadletter`, {});
  t.match(failed.body, { status: 'dead_lettered', lastError: 'HTTP 422' }, 'the real error stays');

  const again = await service.post(`/v1/jobs/${failing}/deadletter`, {});
  t.equal(again.status, 409);
  t.match(again.body, { error: 'invalid_state', status: 'dead_lettered' });
  t.equal((await service.post(`/v1/jobs/${newJobId()}/deadletter`, {})).status, 404);

  // A job dead-lettered by hand can be retried by hand.
  t.equal((await service.post(`/v1/jobs/${pending}/retry`, {})).status, 200);
  await run();
  t.equal((await service.job(pending))?.status, 'completed');
});

t.test('GET /v1/jobs filters', async (t) => {
  reply = (path) => (path === '/filter-fail' ? { status: 400 } : { status: 200 });
  const before = new Date().toISOString();
  const a = await create({ appId: 'filter-a', messageGroupId: 'fg' }, { path: '/filter-fail' });
  const b = await create({ appId: 'filter-a', delaySeconds: 3600 });
  const c = await create({ appId: 'filter-b', delaySeconds: 3600 });
  await run();
  const ids = async (query: string) => {
    const response = await service.get(`/v1/jobs?${query}`);
    t.equal(response.status, 200, query);
    return response.body.jobs.map((job: { id: string }) => job.id);
  };
  t.same(await ids('appId=filter-a'), [b, a], 'newest first');
  t.same(await ids('appId=filter-a&status=failed'), [a]);
  t.same(await ids('appId=filter-a&status=pending'), [b]);
  t.same(await ids('messageGroupId=fg'), [a]);
  t.same(await ids(`executionType=rest-api&createdAfter=${encodeURIComponent(before)}&appId=filter-b`), [c]);
  t.same(await ids(`appId=filter-a&createdBefore=${encodeURIComponent(before)}`), []);
  t.same(await ids('executionType=lambda-invoke'), []);

  const badStatus = await service.get('/v1/jobs?status=lost');
  t.equal(badStatus.status, 400);
  t.equal(badStatus.body.fields[0].field, 'status');
  const badLimit = await service.get('/v1/jobs?limit=501');
  t.equal(badLimit.status, 400);
  t.equal(badLimit.body.fields[0].field, 'limit');
  const badCursor = await service.get('/v1/jobs?cursor=bm9wZQ');
  t.equal(badCursor.status, 400);
  t.equal(badCursor.body.fields[0].field, 'cursor');
});

t.test('pagination while jobs are being added: no job seen twice or skipped', async (t) => {
  // A batch shares one created_at, so this also pages through ties broken by id.
  const batch = Array.from({ length: 45 }, () => restJob(target.url, { appId: 'pager', delaySeconds: 3600 }));
  const first = await service.post('/v1/jobs/batch', { jobs: batch });
  t.equal(first.status, 202);
  const singles = [];
  for (let i = 0; i < 15; i++) singles.push(await create({ appId: 'pager', delaySeconds: 3600 }));
  const existing = new Set([...first.body.jobs.map((job: { id: string }) => job.id), ...singles]);

  let adding = true;
  const added: string[] = [];
  const adder = (async () => {
    while (adding) {
      const more = await service.post('/v1/jobs/batch', { jobs: [1, 2, 3].map(() => restJob(target.url, { appId: 'pager', delaySeconds: 3600 })) });
      added.push(...more.body.jobs.map((job: { id: string }) => job.id));
    }
  })();

  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: any = await service.get(`/v1/jobs?appId=pager&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
    t.equal(page.status, 200);
    seen.push(...page.body.jobs.map((job: { id: string }) => job.id));
    cursor = page.body.nextCursor;
    pages++;
  } while (cursor);
  adding = false;
  await adder;

  t.ok(added.length > 0, 'jobs were added while paging');
  t.equal(new Set(seen).size, seen.length, 'no job seen twice');
  for (const id of existing) if (!seen.includes(id)) t.fail(`job ${id} was skipped`);
  t.equal(seen.filter((id) => existing.has(id)).length, existing.size);
  t.ok(pages >= 9);
});

t.test('SQL views: job_overview and job_failures', async (t) => {
  reply = (path) => (path === '/view-fail' ? { status: 404, body: 'gone' } : { status: 200 });
  const failing = await create({ appId: 'view-app' }, { path: '/view-fail' });
  await run();
  const before = Date.now();
  const oldest = await create({ appId: 'view-app' });
  await create({ appId: 'view-app' });
  // The oldest waiting job has waited an hour more than it has; the other, made just now, not a second.
  await service.pool.query(`UPDATE jobs SET created_at = created_at - interval '1 hour' WHERE id = $1`, [oldest]);

  const { rows: overview } = await service.pool.query(
    `SELECT status, execution_type, jobs::int, extract(epoch FROM oldest_pending_age)::float8 AS age
       FROM job_overview WHERE app_id = 'view-app' ORDER BY status`,
  );
  // Date.now() counts whole milliseconds: one more covers the rounding.
  const sinceCreated = (Date.now() - before + 1) / 1000;
  t.match(overview, [
    { status: 'failed', execution_type: 'rest-api', jobs: 1, age: null },
    { status: 'pending', execution_type: 'rest-api', jobs: 2 },
  ]);
  const age = overview[1].age as number | null;
  t.type(age, 'number', 'pending jobs that are due have an age');
  t.ok(age! >= 3600 && age! <= 3600 + sinceCreated, `the oldest pending job's wait, an hour and ${sinceCreated} s at most: ${age} s`);

  const { rows: failures } = await service.pool.query(`SELECT * FROM job_failures WHERE app_id = 'view-app'`);
  t.match(failures, [{ id: failing, status: 'failed', attempts: 1, last_error: 'HTTP 404', last_http_status: '404', failed_at: Date }]);
});
