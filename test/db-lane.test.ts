// End to end through the DB lane: create over HTTP, a real loopback target, the outcome in SQL.
import t from 'tap';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t, { env: { RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });

t.test('the target receives exactly the request described, and the job completes', async (t) => {
  const target = await startTarget(() => ({ status: 201, body: '{"received":true}' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url + '/base', {
    idempotencyKey: 'order-42',
    execution: { headers: { 'x-target-token': 'static' } },
  }, {
    httpMethod: 'PUT',
    path: '/orders/42',
    queryStringParameters: { single: 'one', both: 'ignored' },
    multiValueQueryStringParameters: { both: ['a', 'b'] },
    headers: { 'content-type': 'application/json', 'x-single': '1', host: 'evil.example' },
    multiValueHeaders: { 'x-multi': ['m1', 'm2'] },
    body: Buffer.from('{"total":10}').toString('base64'),
    isBase64Encoded: true,
  }));
  t.equal(created.status, 202);
  t.match(created.body, { id: String, status: 'pending' });

  const row = await service.waitForStatus(created.body.id, 'completed');
  t.equal(target.requests.length, 1);
  const [request] = target.requests;
  t.equal(request!.method, 'PUT');
  t.equal(request!.url, '/base/orders/42?both=a&both=b&single=one');
  t.equal(request!.body.toString(), '{"total":10}');
  t.equal(request!.headers['content-type'], 'application/json');
  t.equal(request!.headers['x-single'], '1');
  t.equal(request!.headers['x-multi'], 'm1, m2');
  t.equal(request!.headers['x-target-token'], 'static');
  t.equal(request!.headers['idempotency-key'], 'order-42');
  t.equal(request!.headers['switchyard-job-id'], created.body.id);
  t.equal(request!.headers['switchyard-attempt'], '1');
  t.equal(request!.headers.host, target.url.slice('http://'.length), 'the proxy host header is not forwarded');

  t.equal(row.attempts, 1);
  t.equal(row.last_error, null);
  t.match(row.last_response, { status: 201, body: '{"received":true}', truncated: false, durationMs: Number });
  t.ok(row.completed_at instanceof Date);
});

t.test('503, 503, 200: retried with backoff, then completed', async (t) => {
  const target = await startTarget((_request, index) => (index < 2 ? { status: 503, body: 'busy' } : { status: 200, body: 'done' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { retry: { maxAttempts: 5, baseDelaySeconds: 1, maxDelaySeconds: 1 } }));
  t.equal(created.status, 202);

  const retrying = await service.waitForStatus(created.body.id, 'retrying');
  t.equal(retrying.last_error, 'HTTP 503');
  t.ok(retrying.next_retry_at instanceof Date, 'next_retry_at is set while retrying');

  const row = await service.waitForStatus(created.body.id, 'completed', 20_000);
  t.equal(row.attempts, 3);
  t.equal(target.requests.length, 3);
  t.same(target.requests.map((r) => r.headers['switchyard-attempt']), ['1', '2', '3']);
  t.equal(row.next_retry_at, null);
  t.equal(row.last_error, null);
  // Each failure is recorded (finished_at) in the transaction that fails the pg-boss job, whose
  // backoff counts from that transaction's now(): 1 s, jittered up to 2 s and capped at the 1 s
  // maximum. A due retry is then found within the workers' notify poll (1 s); 2 s of slack covers
  // the claim and the request on a loaded machine.
  const { rows: failures } = await service.pool.query(
    `SELECT attempt, finished_at FROM job_attempts WHERE job_id = $1 AND outcome = 'retrying' ORDER BY attempt`, [created.body.id],
  );
  t.same(failures.map((failure) => failure.attempt), [1, 2]);
  const backoff = retrying.next_retry_at!.getTime() - failures[0].finished_at.getTime();
  t.ok(backoff >= 1_000 && backoff <= 2_000, `next_retry_at is the backoff after the failure it follows: ${backoff} ms`);
  t.ok(target.requests[1]!.receivedAt >= retrying.next_retry_at!.getTime(), 'attempt 2 ran no earlier than next_retry_at said');
  for (const [index, failure] of failures.entries()) {
    const waited = target.requests[index + 1]!.receivedAt - failure.finished_at.getTime();
    t.ok(waited >= 1_000 && waited < 1_000 + 1_000 + 2_000, `attempt ${index + 2} waited its backoff and was found within the poll: ${waited} ms after the failure`);
  }
});

t.test('404 fails at once, without a retry', async (t) => {
  const target = await startTarget(() => ({ status: 404, body: 'no such thing' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url));
  const row = await service.waitForStatus(created.body.id, 'failed');
  t.equal(row.attempts, 1);
  t.equal(row.last_error, 'HTTP 404');
  t.match(row.last_response, { status: 404, body: 'no such thing' });
  t.equal(target.requests.length, 1);
});

t.test('always 500: dead-lettered after maxAttempts', async (t) => {
  const target = await startTarget(() => ({ status: 500, body: 'x'.repeat(10_000) }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { retry: { maxAttempts: 3, baseDelaySeconds: 1, maxDelaySeconds: 1 } }));
  const row = await service.waitForStatus(created.body.id, 'dead_lettered', 20_000);
  t.equal(row.attempts, 3);
  t.equal(target.requests.length, 3);
  t.equal(row.last_error, 'HTTP 500');
  t.equal((row.last_response as any).body.length, 4096, 'the stored body is a bounded excerpt');
  t.equal((row.last_response as any).truncated, true);
  t.equal(row.next_retry_at, null);
});

t.test('a network error and a timeout are retried', async (t) => {
  const target = await startTarget((_request, index) => (index === 0 ? { status: 200, delayMs: 1500 } : { status: 200 }));
  t.teardown(() => target.close());
  const slow = await service.post('/v1/jobs/create', restJob(target.url, {
    retry: { maxAttempts: 3, baseDelaySeconds: 1, maxDelaySeconds: 1 },
    execution: { timeoutMs: 300 },
  }));
  const timedOut = await service.waitForStatus(slow.body.id, 'retrying');
  t.equal(timedOut.last_error, 'timed out after 300 ms');
  await service.waitForStatus(slow.body.id, 'completed', 20_000);

  const closed = await startTarget();
  const deadUrl = closed.url;
  await closed.close();
  const refused = await service.post('/v1/jobs/create', restJob(deadUrl, { retry: { maxAttempts: 1 } }));
  const row = await service.waitForStatus(refused.body.id, 'dead_lettered');
  t.match(row.last_error, /^network error: ECONNREFUSED/);
});

t.test('a repeated idempotency key returns the first job and makes no second', async (t) => {
  const target = await startTarget();
  t.teardown(() => target.close());
  const body = restJob(target.url, { idempotencyKey: 'pay-7' });
  const first = await service.post('/v1/jobs/create', body);
  const second = await service.post('/v1/jobs/create', body);
  const concurrent = await Promise.all([1, 2, 3, 4].map(() => service.post('/v1/jobs/create', body)));
  t.equal(first.status, 202);
  t.equal(second.status, 200);
  t.equal(second.body.id, first.body.id);
  for (const response of concurrent) t.equal(response.body.id, first.body.id);
  const otherApp = await service.post('/v1/jobs/create', { ...body, appId: 'another-app' });
  t.equal(otherApp.status, 202, 'the key is scoped to the app');
  t.not(otherApp.body.id, first.body.id);
  const { rows } = await service.pool.query("SELECT count(*)::int AS n FROM jobs WHERE idempotency_key = 'pay-7'");
  t.equal(rows[0].n, 2);
  await service.waitForStatus(first.body.id, 'completed');
  await service.waitForStatus(otherApp.body.id, 'completed');
  t.equal(target.requests.length, 2, 'each app\'s job ran once');
});

t.test('a delayed job starts within a second or two of its time', async (t) => {
  const target = await startTarget();
  t.teardown(() => target.close());
  const before = Date.now();
  const created = await service.post('/v1/jobs/create', restJob(target.url, { delaySeconds: 2 }));
  const pending = await service.job(created.body.id);
  t.equal(pending!.status, 'pending');
  t.ok(pending!.run_at instanceof Date);
  t.ok(pending!.run_at!.getTime() >= before + 2_000, 'its time is 2 s after the create');
  await service.waitForStatus(created.body.id, 'completed');
  // Never early; a job that comes due is found within the workers' notify poll (1 s), and 2 s of
  // slack covers the claim and the request on a loaded machine.
  const late = target.requests[0]!.receivedAt - pending!.run_at!.getTime();
  t.ok(late >= 0 && late < 1_000 + 2_000, `started ${late} ms after its time`);
});
