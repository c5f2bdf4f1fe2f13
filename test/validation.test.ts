// Bad input gets a 400 that names the field, and nothing is stored or sent.
import t from 'tap';
import { Drain } from '../src/jobs/drain.ts';
import { silentLogger } from '../src/ops/log.ts';
import { ExecutorRegistry } from '../src/executors/registry.ts';
import { createRestApiExecutor } from '../src/executors/rest-api.ts';
import { JobService } from '../src/jobs/job-service.ts';
import { DbLane } from '../src/lanes/db-lane.ts';
import { createEmbeddedScheduler } from '../src/scheduling/job-scheduler.ts';
import { ADMIN_AUTH, restJob, startTestService } from './helpers/service.ts';
import { startTarget, loopbackDispatcher } from './helpers/target.ts';

const service = await startTestService(t);
const target = await startTarget();
t.teardown(() => target.close());

const valid = () => restJob(target.url) as any;
const withMessage = (change: (message: any) => void) => {
  const body = valid();
  change(body.message);
  return body;
};

// [what is wrong, body, the field the answer must name]
const cases: [string, unknown, string][] = [
  ['appId missing', (({ appId, ...rest }) => rest)(valid()), 'appId'],
  ['appId empty', { ...valid(), appId: '' }, 'appId'],
  ['appId with spaces', { ...valid(), appId: 'my app' }, 'appId'],
  ['appId not a string', { ...valid(), appId: 42 }, 'appId'],
  ['mode unknown', { ...valid(), mode: 'kafka' }, 'mode'],
  ['mode missing', (({ mode, ...rest }) => rest)(valid()), 'mode'],
  ['mode sqs without an SQS lane', { ...valid(), mode: 'sqs' }, 'mode'],
  ['mode both without an SQS lane', { ...valid(), mode: 'both' }, 'mode'],
  ['message missing', (({ message, ...rest }) => rest)(valid()), 'message'],
  ['an unknown top-level field', { ...valid(), idempotencykey: 'typo' }, 'idempotencykey'],
  ['lambdaProxyMessage missing', withMessage((m) => delete m.lambdaProxyMessage), 'message.lambdaProxyMessage'],
  ['httpMethod unknown', withMessage((m) => (m.lambdaProxyMessage.httpMethod = 'FETCH')), 'message.lambdaProxyMessage.httpMethod'],
  ['path without a leading slash', withMessage((m) => (m.lambdaProxyMessage.path = 'hook')), 'message.lambdaProxyMessage.path'],
  ['headers not strings', withMessage((m) => (m.lambdaProxyMessage.headers = { a: 1 })), 'message.lambdaProxyMessage.headers.a'],
  ['body not a string', withMessage((m) => (m.lambdaProxyMessage.body = { a: 1 })), 'message.lambdaProxyMessage.body'],
  ['isBase64Encoded not a boolean', withMessage((m) => (m.lambdaProxyMessage.isBase64Encoded = 'yes')), 'message.lambdaProxyMessage.isBase64Encoded'],
  ['multiValueHeaders not lists', withMessage((m) => (m.lambdaProxyMessage.multiValueHeaders = { a: 'b' })), 'message.lambdaProxyMessage.multiValueHeaders.a'],
  ['execution missing', withMessage((m) => delete m.execution), 'message.execution'],
  ['execution type unknown', withMessage((m) => (m.execution.type = 'carrier-pigeon')), 'message.execution.type'],
  ['baseUrl not a URL', withMessage((m) => (m.execution.baseUrl = 'not a url')), 'message.execution.baseUrl'],
  ['baseUrl not http', withMessage((m) => (m.execution.baseUrl = 'ftp://example.com')), 'message.execution.baseUrl'],
  ['timeoutMs too small', withMessage((m) => (m.execution.timeoutMs = 5)), 'message.execution.timeoutMs'],
  ['timeoutMs not whole', withMessage((m) => (m.execution.timeoutMs = 1000.5)), 'message.execution.timeoutMs'],
  ['an unknown execution field', withMessage((m) => (m.execution.baseurl = 'x')), 'message.execution.baseurl'],
  ['lambda-url without functionUrl', withMessage((m) => (m.execution = { type: 'lambda-url' })), 'message.execution.functionUrl'],
  ['lambda-invoke with a bad invocationType', withMessage((m) => (m.execution = { type: 'lambda-invoke', functionName: 'f', invocationType: 'DryRun' })), 'message.execution.invocationType'],
  ['schedule with both at and delaySeconds', withMessage((m) => (m.execution = { type: 'schedule', at: '2030-01-01T00:00:00Z', delaySeconds: 5, targetExecution: { type: 'rest-api', baseUrl: target.url } })), 'message.execution.at'],
  ['schedule with a bad target', withMessage((m) => (m.execution = { type: 'schedule', delaySeconds: 5, targetExecution: { type: 'schedule' } })), 'message.execution.targetExecution.type'],
  ['metadata not an object', withMessage((m) => (m.metadata = [1, 2])), 'message.metadata'],
  ['retry.maxAttempts zero', { ...valid(), retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
  ['retry.baseDelaySeconds negative', { ...valid(), retry: { baseDelaySeconds: -1 } }, 'retry.baseDelaySeconds'],
  ['retry max below base', { ...valid(), retry: { baseDelaySeconds: 100, maxDelaySeconds: 10 } }, 'retry.maxDelaySeconds'],
  ['runAt not a date', { ...valid(), runAt: 'tomorrow' }, 'runAt'],
  ['runAt and delaySeconds together', { ...valid(), runAt: '2030-01-01T00:00:00Z', delaySeconds: 5 }, 'delaySeconds'],
  ['delaySeconds negative', { ...valid(), delaySeconds: -5 }, 'delaySeconds'],
  ['idempotencyKey empty', { ...valid(), idempotencyKey: '' }, 'idempotencyKey'],
  ['messageGroupId too long', { ...valid(), messageGroupId: 'g'.repeat(129) }, 'messageGroupId'],
  ['the body a JSON array', [], '(body)'],
  // Values the schema's types allow but their destination does not: each would have been accepted
  // and then failed at every attempt, or answered 500 when PostgreSQL refused it.
  ['a header name with CR/LF', withMessage((m) => (m.lambdaProxyMessage.headers = { 'x-a\r\nx-b': 'v' })), 'message.lambdaProxyMessage.headers.x-a\r\nx-b'],
  ['a header name that is not a token', withMessage((m) => (m.lambdaProxyMessage.headers = { 'x a': 'v' })), 'message.lambdaProxyMessage.headers.x a'],
  ['a header value with CR/LF', withMessage((m) => (m.lambdaProxyMessage.headers = { 'x-a': 'v\r\nx-b: injected' })), 'message.lambdaProxyMessage.headers.x-a'],
  ['a header value with NUL', withMessage((m) => (m.lambdaProxyMessage.headers = { 'x-a': 'v\u0000' })), 'message.lambdaProxyMessage.headers.x-a'],
  ['a header value past ASCII', withMessage((m) => (m.lambdaProxyMessage.headers = { 'x-a': '€' })), 'message.lambdaProxyMessage.headers.x-a'],
  ['a header value with a trailing space', withMessage((m) => (m.lambdaProxyMessage.headers = { 'x-a': 'v ' })), 'message.lambdaProxyMessage.headers.x-a'],
  ['a header named twice in different case', withMessage((m) => (m.lambdaProxyMessage.headers = { 'X-A': '1', 'x-a': '2' })), 'message.lambdaProxyMessage.headers.x-a'],
  ['a multi-value header value with LF', withMessage((m) => (m.lambdaProxyMessage.multiValueHeaders = { 'x-a': ['fine', 'v\nx'] })), 'message.lambdaProxyMessage.multiValueHeaders.x-a.1'],
  ['an execution header value with CR', withMessage((m) => (m.execution.headers = { authorization: 'Bearer a\rb' })), 'message.execution.headers.authorization'],
  ['a scheduled target header value with LF', withMessage((m) => (m.execution = { type: 'schedule', delaySeconds: 60, targetExecution: { type: 'rest-api', baseUrl: target.url, headers: { 'x-a': 'a\nb' } } })), 'message.execution.targetExecution.headers.x-a'],
  ['isBase64Encoded with a body that is not base64', withMessage((m) => Object.assign(m.lambdaProxyMessage, { isBase64Encoded: true, body: 'this is not base64!' })), 'message.lambdaProxyMessage.body'],
  ['isBase64Encoded with base64url', withMessage((m) => Object.assign(m.lambdaProxyMessage, { isBase64Encoded: true, body: 'a-_b' })), 'message.lambdaProxyMessage.body'],
  ['a body with a lone surrogate', withMessage((m) => (m.lambdaProxyMessage.body = 'half an emoji: \ud83d')), 'message.lambdaProxyMessage.body'],
  ['a body with NUL', withMessage((m) => (m.lambdaProxyMessage.body = 'a\u0000b')), 'message.lambdaProxyMessage.body'],
  ['a query value with a lone surrogate', withMessage((m) => (m.lambdaProxyMessage.queryStringParameters = { q: '\udc00' })), 'message.lambdaProxyMessage.queryStringParameters.q'],
  ['a query that makes the URL longer than 4 KiB', withMessage((m) => (m.lambdaProxyMessage.multiValueQueryStringParameters = { q: ['x'.repeat(2100), 'y'.repeat(2100)] })), 'message.lambdaProxyMessage.multiValueQueryStringParameters'],
  ['a path with a .. segment', withMessage((m) => (m.lambdaProxyMessage.path = '/public/%2e%2E/admin')), 'message.lambdaProxyMessage.path'],
  ['a path with a stray %', withMessage((m) => (m.lambdaProxyMessage.path = '/100%')), 'message.lambdaProxyMessage.path'],
  ['a path with a backslash', withMessage((m) => (m.lambdaProxyMessage.path = '/a\\b')), 'message.lambdaProxyMessage.path'],
  ['a path with a tab', withMessage((m) => (m.lambdaProxyMessage.path = '/a\tb')), 'message.lambdaProxyMessage.path'],
  ['an extra proxy-event field with NUL', withMessage((m) => (m.lambdaProxyMessage.requestContext = { stage: '\u0000' })), 'message.lambdaProxyMessage.requestContext.stage'],
  ['baseUrl with credentials', withMessage((m) => (m.execution.baseUrl = 'http://user:pass@127.0.0.1:9')), 'message.execution.baseUrl'],
  ['baseUrl with a fragment', withMessage((m) => (m.execution.baseUrl = `${target.url}/#top`)), 'message.execution.baseUrl'],
  ['baseUrl with a tab inside', withMessage((m) => (m.execution.baseUrl = `${target.url}/a\tb`)), 'message.execution.baseUrl'],
  ['baseUrl with a .. segment', withMessage((m) => (m.execution.baseUrl = `${target.url}/api/../admin`)), 'message.execution.baseUrl'],
  ['baseUrl with a lone surrogate', withMessage((m) => (m.execution.baseUrl = `${target.url}/\ud800`)), 'message.execution.baseUrl'],
  ['lambda-url with no region to sign for on this deployment', withMessage((m) => (m.execution = { type: 'lambda-url', functionUrl: target.url })), 'message.execution.region'],
  ['a Lambda function name Lambda would refuse', withMessage((m) => (m.execution = { type: 'lambda-invoke', functionName: 'my function' })), 'message.execution.functionName'],
  ['metadata text with a lone surrogate', withMessage((m) => (m.metadata = { notes: ['fine', { deep: '\ud800' }] })), 'message.metadata.notes.1.deep'],
  ['a metadata key with NUL', withMessage((m) => (m.metadata = { 'k\u0000': 1 })), 'message.metadata.k\u0000'],
  ['metadata nested 40 levels deep', withMessage((m) => (m.metadata = { deep: JSON.parse('['.repeat(40) + ']'.repeat(40)) })), `message.metadata.deep${'.0'.repeat(32)}`],
  ['a metadata number JSON.parse makes Infinity', JSON.stringify(valid()).replace('"metadata":{}', '"metadata":{"n":1e400}'), 'message.metadata.n'],
  ['idempotencyKey with NUL', { ...valid(), idempotencyKey: 'k\u0000' }, 'idempotencyKey'],
  ['idempotencyKey with a line break (it is sent as a header)', { ...valid(), idempotencyKey: 'a\nb' }, 'idempotencyKey'],
  ['idempotencyKey with a lone surrogate', { ...valid(), idempotencyKey: '\ud800' }, 'idempotencyKey'],
  ['runAt further ahead than the DB lane keeps jobs', { ...valid(), runAt: new Date(Date.now() + 400 * 86_400_000).toISOString() }, 'runAt'],
  ['runAt on a day that does not exist', { ...valid(), runAt: '2030-02-30T00:00:00Z' }, 'runAt'],
];

for (const [what, body, field] of cases) {
  t.test(what, async (t) => {
    const response = await service.post('/v1/jobs/create', body);
    t.equal(response.status, 400);
    t.equal(response.body.error, 'validation_failed');
    t.ok(
      response.body.fields.some((problem: { field: string }) => problem.field === field),
      `names ${field}: ${JSON.stringify(response.body.fields)}`,
    );
  });
}

t.test('batch items and the legacy route follow the same rules, each naming its own field', async (t) => {
  const batch = await service.post('/v1/jobs/batch', { jobs: [valid(), withMessage((m) => (m.lambdaProxyMessage.headers = { 'x-a': 'a\r\nb' })), { ...valid(), idempotencyKey: '\ud800' }] });
  t.equal(batch.status, 400);
  t.same(batch.body.fields.map((problem: { field: string }) => problem.field).sort(), ['jobs.1.message.lambdaProxyMessage.headers.x-a', 'jobs.2.idempotencyKey']);
  const legacy = async (body: unknown) => {
    const response = await service.post('/v1/jobs/callback-http', body);
    t.equal(response.status, 400, JSON.stringify(body));
    return response.body.fields.map((problem: { field: string }) => problem.field);
  };
  t.same(await legacy({ appId: 'legacy', url: target.url, headers: { 'x-a': 'a\nb' } }), ['headers.x-a']);
  t.same(await legacy({ appId: 'legacy', url: target.url, headers: { 'x a': 'v' } }), ['headers.x a']);
  t.same(await legacy({ appId: 'legacy', url: target.url, body: 'lone \udfff' }), ['body']);
  t.same(await legacy({ appId: 'legacy', url: target.url, body: { nested: ['\u0000'] } }), ['body.nested.0']);
  t.same(await legacy(`{"appId":"legacy","url":"${target.url}","body":{"n":-1e999}}`), ['body.n']);
  t.same(await legacy({ appId: 'legacy', url: `${target.url}/a/%2e%2e/b` }), ['url']);
  t.same(await legacy({ appId: 'legacy', url: `${target.url}/hook?q=${'x'.repeat(2040)}`, body: 'y' }), ['url']);
  t.same(await legacy({ appId: 'legacy', url: `${target.url}/hook`, body: 'z'.repeat(300 * 1024) }), ['body'], 'too large for the message: the body is what to shrink');
});

t.test('a body that is not JSON, or not sent as JSON, is refused', async (t) => {
  const broken = await service.post('/v1/jobs/create', '{"appId": ');
  t.equal(broken.status, 400);
  t.equal(broken.body.error, 'invalid_json');
  const empty = await service.post('/v1/jobs/create', '');
  t.equal(empty.status, 400);
  const form = await fetch(service.url + '/v1/jobs/create', { method: 'POST', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded', ...ADMIN_AUTH } });
  t.equal(form.status, 415);
  t.match(await form.json(), { error: 'unsupported_media_type' });
  const huge = await service.post('/v1/jobs/create', { ...valid(), pad: 'x'.repeat(2 * 1024 * 1024) });
  t.equal(huge.status, 413);
});

t.test('execution types that cannot run here are refused, not accepted and lost', async (t) => {
  // This deployment runs all four types; a JobService whose registry lacks one refuses it at create.
  // Its lane and scheduler are real, on the service's database: had it accepted a job, it would be stored.
  const dbLane = await DbLane.start(service.database.connectionString, service.config.worker, () => {});
  t.teardown(() => dbLane.stop(1000));
  const restOnly = new JobService({
    config: service.config,
    pool: service.pool,
    dbLane,
    scheduler: createEmbeddedScheduler(dbLane),
    executors: new ExecutorRegistry([createRestApiExecutor({ defaultTimeoutMs: 1000, dispatcher: loopbackDispatcher() })]),
    log: silentLogger,
    drain: new Drain(),
  });
  await t.rejects(restOnly.create(withMessage((m) => (m.execution = { type: 'lambda-invoke', functionName: 'orders' }))), {
    name: 'ValidationError',
    problems: [{ field: 'message.execution.type' }],
  });
  await t.rejects(restOnly.create(withMessage((m) => (m.execution = { type: 'schedule', delaySeconds: 60, targetExecution: { type: 'rest-api', baseUrl: target.url } }))), {
    name: 'ValidationError',
    problems: [{ field: 'message.execution.type' }],
  });
  const { rows } = await service.pool.query(
    `SELECT (SELECT count(*)::int FROM jobs) AS rows, (SELECT count(*)::int FROM pgboss.job WHERE name LIKE 'switchyard-jobs%') AS lane_jobs`,
  );
  t.same(rows[0], { rows: 0, lane_jobs: 0 }, 'nothing was stored');
});

t.test('nothing was stored and nothing was sent', async (t) => {
  const { rows } = await service.pool.query('SELECT count(*)::int AS n FROM jobs');
  t.equal(rows[0].n, 0);
  const lane = await service.pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name LIKE 'switchyard-jobs%'");
  t.equal(lane.rows[0].n, 0);
  t.equal(target.requests.length, 0);
});
