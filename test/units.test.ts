// Pure parts: config parsing, the retry schedule, time-ordered ids, the proxy request builder.
import t from 'tap';
import { ConfigError, parseConfig } from '../src/config/config.ts';
import { newJobId } from '../src/jobs/job-id.ts';
import { expireInSecondsFor } from '../src/jobs/job-preparation.ts';
import { hasAttemptsLeft, nominalDelaySeconds, resolveRetryPolicy } from '../src/jobs/retry-policy.ts';
import { buildProxyRequest } from '../src/executors/proxy-request.ts';
import { isRetryableStatus } from '../src/executors/http-outcome.ts';

t.test('a claim lasts as long as the call it makes, plus the margin: a schedule job\'s is its target\'s', async (t) => {
  const target = { type: 'rest-api' as const, baseUrl: 'https://example.com', timeoutMs: 600_000 };
  t.equal(expireInSecondsFor(target, 30_000), 610);
  t.equal(expireInSecondsFor({ type: 'rest-api', baseUrl: 'https://example.com' }, 30_000), 40, 'the default timeout');
  t.equal(expireInSecondsFor({ type: 'schedule', delaySeconds: 60, targetExecution: target }, 30_000), 610, 'not the default');
});

t.test('config: defaults, and an invalid value names its variable', async (t) => {
  const config = parseConfig({});
  t.equal(config.port, 8000);
  t.equal(config.databaseUrl, undefined, 'no DATABASE_URL selects the embedded database');
  t.match(config.dataDir, /\.data$/);
  t.same(config.retry, { maxAttempts: 5, baseDelaySeconds: 60, maxDelaySeconds: 86_400 });
  t.equal(config.aws.sqsQueueUrl, undefined);
  t.equal(config.aws.sqsVisibilityTimeoutSeconds, 30, "SQS's own default visibility timeout");
  t.equal(parseConfig({ AWS_SQS_VISIBILITY_TIMEOUT_SECONDS: '5' }).aws.sqsVisibilityTimeoutSeconds, 5);
  t.equal(parseConfig({ DATABASE_URL: 'postgres://u:p@db:5432/x' }).databaseUrl, 'postgres://u:p@db:5432/x');

  const bad: [Record<string, string>, string][] = [
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: '::nope' }, 'DATABASE_URL'],
    [{ EMBEDDED_PG_PORT: '0' }, 'EMBEDDED_PG_PORT'],
    [{ RUN_WORKERS: 'perhaps' }, 'RUN_WORKERS'],
    [{ RETRY_BASE_DELAY_SECONDS: '600', RETRY_MAX_DELAY_SECONDS: '60' }, 'RETRY_MAX_DELAY_SECONDS'],
    [{ WORKER_POLLING_INTERVAL_SECONDS: '0.1' }, 'WORKER_POLLING_INTERVAL_SECONDS'],
    [{ AWS_SQS_QUEUE_URL: 'queue' }, 'AWS_SQS_QUEUE_URL'],
    [{ AWS_SQS_VISIBILITY_TIMEOUT_SECONDS: '0' }, 'AWS_SQS_VISIBILITY_TIMEOUT_SECONDS'],
    [{ AWS_SCHEDULER_ROLE_ARN: 'role' }, 'AWS_SCHEDULER_ROLE_ARN'],
  ];
  for (const [env, variable] of bad) {
    let thrown: unknown;
    try {
      parseConfig(env);
    } catch (error) {
      thrown = error;
    }
    t.ok(thrown instanceof ConfigError, `${variable}: a ConfigError`);
    t.equal((thrown as ConfigError).variable, variable);
    t.match((thrown as ConfigError).message, new RegExp(`^${variable} `));
  }
});

t.test('retry: the default schedule is 60, 120, 240 … seconds, capped at 24 h', async (t) => {
  const policy = resolveRetryPolicy(parseConfig({}).retry, undefined);
  const schedule = Array.from({ length: 14 }, (_, i) => nominalDelaySeconds(policy, i + 1));
  t.same(schedule, [60, 120, 240, 480, 960, 1920, 3840, 7680, 15_360, 30_720, 61_440, 86_400, 86_400, 86_400]);
  t.equal(nominalDelaySeconds(policy, 1000), 86_400, 'no overflow far out');
  t.ok(hasAttemptsLeft(policy, 4));
  t.notOk(hasAttemptsLeft(policy, 5));

  const custom = resolveRetryPolicy(parseConfig({}).retry, { maxAttempts: 3, baseDelaySeconds: 2, maxDelaySeconds: 5 });
  t.same([1, 2, 3].map((n) => nominalDelaySeconds(custom, n)), [2, 4, 5]);
  t.equal(resolveRetryPolicy(parseConfig({ RETRY_MAX_DELAY_SECONDS: '100' }).retry, { baseDelaySeconds: 500 }).maxDelaySeconds, 500,
    'a per-job base above the configured cap raises the cap rather than failing');
  t.throws(() => resolveRetryPolicy(parseConfig({}).retry, { baseDelaySeconds: 10, maxDelaySeconds: 5 }), /retry.maxDelaySeconds/);
});

t.test('job ids are UUIDv7 and sort in creation order, also within one millisecond', async (t) => {
  const ids = Array.from({ length: 5000 }, () => newJobId(1_800_000_000_000));
  t.match(ids[0], /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.same([...ids].sort(), ids, 'lexical order is creation order');
  t.equal(new Set(ids).size, ids.length);
  const later = newJobId(1_800_000_000_001);
  t.ok(later > ids.at(-1)!);
});

t.test('proxy request: url, query, headers and body from the proxy message', async (t) => {
  const spec = buildProxyRequest('https://api.example.com/v2/', {
    httpMethod: 'GET',
    path: '/items',
    queryStringParameters: { q: 'a b' },
    headers: { Connection: 'close', 'Content-Length': '99', Accept: 'text/plain' },
  }, { 'Switchyard-Job-Id': 'id-1' });
  t.equal(spec.url.toString(), 'https://api.example.com/v2/items?q=a+b');
  t.equal(spec.headers.get('accept'), 'text/plain');
  t.equal(spec.headers.get('connection'), null, 'hop-by-hop headers are dropped');
  t.equal(spec.headers.get('content-length'), null);
  t.equal(spec.headers.get('switchyard-job-id'), 'id-1');
  t.equal(spec.body, undefined);
  const post = buildProxyRequest('http://h', { httpMethod: 'POST', path: '/', body: 'plain' });
  t.equal(Buffer.from(post.body!).toString(), 'plain');
});

t.test('which HTTP statuses are retried', async (t) => {
  t.same([408, 425, 429, 500, 502, 503, 504].map(isRetryableStatus), [true, true, true, true, true, true, true]);
  t.same([400, 401, 403, 404, 409, 410, 422].map(isRetryableStatus), [false, false, false, false, false, false, false]);
});
