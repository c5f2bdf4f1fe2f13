// GET /metrics is scraped the way Prometheus does, and its numbers are checked against what the test
// ran: creates, completions, retries, failures and dead letters by lane, type and app; the duration
// and queue-wait histograms; queue depth, running jobs and the oldest waiting job; the pool and
// process metrics; and who may read it.
import t from 'tap';
import { AppKeys } from '../src/apps/app-keys.ts';
import { ConfigError, parseConfig } from '../src/config/config.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const METRICS_TOKEN = 'metrics-token-0123456789abcdefghijklmnop';
const service = await startTestService(t, { env: { METRICS_TOKEN, RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });
let releaseSlow: () => void = () => {};
const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
let flakyCalls = 0;
const target = await startTarget(async (request) => {
  if (request.url === '/slow') {
    await slowGate;
    return { status: 200 };
  }
  if (request.url === '/flaky') return flakyCalls++ === 0 ? { status: 503 } : { status: 200 };
  if (request.url === '/bad') return { status: 400, body: 'no' };
  if (request.url === '/down') return { status: 500 };
  return { status: 200 };
});
t.teardown(() => {
  releaseSlow();
  return target.close();
});

async function scrape(token = METRICS_TOKEN): Promise<string> {
  const response = await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  if (!/^text\/plain; version=0\.0\.4/.test(response.headers.get('content-type') ?? '')) throw new Error('not the Prometheus text format');
  return response.text();
}

/** The value of one series, e.g. value(text, 'switchyard_jobs_created_total', {app: 'a'}); 0 when absent. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (wanted.every(([key, expected]) => found[key] === expected)) return Number(match[3]);
  }
  return 0;
}

t.test('queue depth, running jobs and the oldest waiting job come from SQL', async (t) => {
  // A group whose head hangs: the head is running, the job behind it is due and waiting.
  const head = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'queued', messageGroupId: 'g1' }, { path: '/slow' }));
  await service.waitForStatus(head.body.id, 'running');
  const behind = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'queued', messageGroupId: 'g1' }));
  await service.post('/v1/jobs/create', restJob(target.url, { appId: 'queued', delaySeconds: 3600 }));
  // The gauges are read at most every 5 s: wait for a reading taken after the jobs above existed.
  const text = await waitFor(async () => {
    const scraped = await scrape();
    return value(scraped, 'switchyard_queue_depth', { lane: 'db', app: 'queued' }) === 1 ? scraped : undefined;
  }, { timeoutMs: 15_000, what: 'a queue reading with the waiting job' });
  t.equal(value(text, 'switchyard_jobs_running', { lane: 'db', app: 'queued' }), 1, 'the hung head is running');
  t.equal(value(text, 'switchyard_queue_delayed', { lane: 'db', app: 'queued' }), 1, 'the delayed job waits for its time');
  t.ok(value(text, 'switchyard_queue_oldest_age_seconds', { lane: 'db', app: 'queued' }) > 0, 'the waiting job has an age');
  releaseSlow();
  await service.waitForStatus(behind.body.id, 'completed');
});

t.test('counters and histograms match what ran', async (t) => {
  const app = 'counted';
  const ok = await service.post('/v1/jobs/create', restJob(target.url, { appId: app }));
  const flaky = await service.post('/v1/jobs/create', restJob(target.url, { appId: app }, { path: '/flaky' }));
  const bad = await service.post('/v1/jobs/create', restJob(target.url, { appId: app }, { path: '/bad' }));
  const down = await service.post('/v1/jobs/create', restJob(target.url, { appId: app, retry: { maxAttempts: 2, baseDelaySeconds: 1, maxDelaySeconds: 1 } }, { path: '/down' }));
  const batch = await service.post('/v1/jobs/batch', { jobs: [restJob(target.url, { appId: app }), restJob(target.url, { appId: app })] });
  t.equal(batch.status, 202);
  const repeated = await service.post('/v1/jobs/create', restJob(target.url, { appId: app, idempotencyKey: 'once' }));
  await service.post('/v1/jobs/create', restJob(target.url, { appId: app, idempotencyKey: 'once' }));
  await service.waitForStatus(ok.body.id, 'completed');
  await service.waitForStatus(flaky.body.id, 'completed', 20_000);
  await service.waitForStatus(bad.body.id, 'failed');
  await service.waitForStatus(down.body.id, 'dead_lettered', 20_000);
  await service.waitForStatus(repeated.body.id, 'completed');
  for (const { id } of batch.body.jobs) await service.waitForStatus(id, 'completed');

  const text = await scrape();
  const labels = { lane: 'db', type: 'rest-api', app };
  t.equal(value(text, 'switchyard_jobs_created_total', labels), 7, 'seven created (the repeated idempotency key made none)');
  t.equal(value(text, 'switchyard_jobs_completed_total', labels), 5, 'ok, flaky, two batch jobs and the keyed one completed');
  t.equal(value(text, 'switchyard_jobs_retried_total', labels), 2, 'flaky retried once, down once');
  t.equal(value(text, 'switchyard_jobs_failed_total', labels), 1, 'the 400 failed');
  t.equal(value(text, 'switchyard_jobs_dead_lettered_total', labels), 1, 'down used up its two attempts');
  const attempts = 5 + 2 + 1 + 1;
  t.ok(value(text, 'switchyard_attempt_duration_seconds_count', { lane: 'db', type: 'rest-api' }) >= attempts, 'every attempt has a duration');
  t.ok(value(text, 'switchyard_queue_wait_seconds_count', { lane: 'db', type: 'rest-api' }) >= attempts, 'every attempt has a queue wait');
  // The retries waited out a 1-2 s backoff before they were due: their queue wait is from then, not from the create.
  t.ok(value(text, 'switchyard_queue_wait_seconds_bucket', { lane: 'db', type: 'rest-api', le: '5' }) >= attempts, 'no attempt waited 5 s past its due time');
  t.ok(value(text, 'switchyard_db_pool_connections') >= 1, 'the pool is reported');
  t.ok(value(text, 'process_cpu_user_seconds_total') > 0, "the process's own metrics are there");
  t.ok(text.includes('# TYPE switchyard_reconciler_repairs_total counter'), 'the reconciler counter is exposed');
  t.ok(text.includes('# TYPE switchyard_settle_mismatches_total counter'));
});

t.test('only an admin key or METRICS_TOKEN may read it', async (t) => {
  const { key } = await new AppKeys(service.pool).createAppKey('nosy');
  const read = (authorization?: string) => fetch(`${service.url}/metrics`, { headers: authorization ? { authorization } : {} });
  t.equal((await read()).status, 401);
  t.equal((await read('Bearer wrong-token')).status, 401);
  t.equal((await read(`Bearer ${key}`)).status, 403, 'an app key is refused: the numbers span every app');
  t.equal((await read(`Bearer ${METRICS_TOKEN}`)).status, 200);
  t.ok(await scrape((await import('./helpers/service.ts')).ADMIN_KEY), 'an admin key reads it');
  t.throws(() => parseConfig({ METRICS_TOKEN: 'short' }), new ConfigError('METRICS_TOKEN', 'must be at least 32 characters of random text (e.g. openssl rand -base64 32)'));
  t.notOk(service.logRecords.join('\n').includes(METRICS_TOKEN), 'the token is in no log line');
});
