// A generated run of malformed requests against the running API: no 5xx, no row written, and the
// service healthy and working afterwards. The generator is seeded, so a failure reproduces with
// FUZZ_SEED=<seed printed in the failure>.
import t from 'tap';
import { ADMIN_KEY, INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5717c4);
const REQUESTS = 1200;
const PARALLEL = 24;

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const service = await startTestService(t, { env: { RUN_WORKERS: 'false' } });
const target = await startTarget();
t.teardown(() => target.close());

const random = prng(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (max: number) => Math.floor(random() * max);

const JUNK: unknown[] = [null, true, false, 0, -1, 1e308, -0.5, '', ' ', 'x'.repeat(5000), '\u0000', '💥', '<script>', "'; DROP TABLE jobs; --", [], [1, 2], {}, { $ne: null }, { __proto__: { admin: true } }, 'NaN'];

// Each sets a field of a valid create body to a value the schema must refuse.
const BREAKERS: ((body: any) => void)[] = [
  (b) => delete b.appId,
  (b) => delete b.mode,
  (b) => delete b.message,
  (b) => (b.appId = pick(['', 'has space', 'a'.repeat(129), 'ünïcode', 7, null, ['x']])),
  (b) => (b.mode = pick(['fast', 'DB', '', 1, null])),
  (b) => (b.message = pick(JUNK.filter((junk) => typeof junk !== 'object' || junk === null || Array.isArray(junk)))),
  (b) => (b.message.execution = pick([null, {}, { type: 'carrier-pigeon' }, { type: 'rest-api' }, 'rest-api'])),
  (b) => (b.message.execution.baseUrl = pick(['ftp://example.com', 'not a url', 'http://', 'javascript:alert(1)', 'file:///etc/passwd', 'http://' + 'a'.repeat(2100) + '.com', 42])),
  (b) => (b.message.execution.timeoutMs = pick([0, 99, 900_001, 1.5, '1000', -5])),
  (b) => (b.message.execution.headers = pick([{ '': 'x' }, { h: 7 }, { h: 'x'.repeat(9000) }, 'header', [['a', 'b']]])),
  (b) => (b.message.execution.extra = 'strict objects refuse unknown keys'),
  (b) => (b.message.lambdaProxyMessage = pick([null, {}, 'GET /', [], { httpMethod: 'GET' }])),
  (b) => (b.message.lambdaProxyMessage.httpMethod = pick(['FETCH', 'get', '', null, 1])),
  (b) => (b.message.lambdaProxyMessage.path = pick(['no-slash', '', null, '/' + 'p'.repeat(2048), 5])),
  (b) => (b.message.lambdaProxyMessage.body = pick([{ json: true }, 12, ['a']])),
  (b) => (b.message.lambdaProxyMessage.headers = pick([{ a: 1 }, 'x', [1]])),
  (b) => (b.message.metadata = pick(['meta', 3, ['a']])),
  (b) => (b.retry = pick([{ maxAttempts: 0 }, { maxAttempts: 101 }, { baseDelaySeconds: -1 }, { unknown: 1 }, 'often', { maxAttempts: 2.5 }])),
  (b) => (b.runAt = pick(['yesterday', '2026-13-45T00:00:00Z', 12345, ''])),
  (b) => (b.delaySeconds = pick([-1, 1e12, 'soon', 1.5])),
  (b) => Object.assign(b, { runAt: '2030-01-01T00:00:00Z', delaySeconds: 10 }),
  (b) => (b.idempotencyKey = pick(['', 'k'.repeat(129), 5, null])),
  (b) => (b.messageGroupId = pick(['', 'g'.repeat(129), 'has space', {}])),
  (b) => (b[pick(['unknownField', 'app_id', 'constructor', 'status', 'id'])] = pick(JUNK)),
  // Values of the right type that their destination refuses: a header, jsonb, a URL, base64.
  (b) => (b.message.lambdaProxyMessage.headers = pick([{ 'x\r\ny': 'v' }, { x: 'a\nb' }, { x: '\u0000' }, { 'bad name': 'v' }, { x: '€' }])),
  (b) => (b.message.lambdaProxyMessage.multiValueHeaders = pick([{ x: ['a', ''] }, { x: ['\r'] }])),
  (b) => Object.assign(b.message.lambdaProxyMessage, { isBase64Encoded: true, body: pick(['not base64!', '====', 'a-_b']) }),
  (b) => (b.message.lambdaProxyMessage.body = pick(['\ud800', 'x\udfffy', '\u0000'])),
  (b) => (b.message.metadata = pick([{ a: '\ud83d' }, { '\u0000': 1 }, { deep: JSON.parse('['.repeat(60) + ']'.repeat(60)) }])),
  (b) => (b.message.lambdaProxyMessage.path = pick(['/a/../b', '/%zz', '/a\\b', '/a\tb', '/\ud800'])),
  (b) => (b.message.lambdaProxyMessage.queryStringParameters = pick([{ q: '\udc00' }, { q: 'x'.repeat(5000) }])),
  (b) => (b.idempotencyKey = pick(['k\u0000', 'a\nb', '\ud800', 'ключ'])),
];

function brokenCreateBody(): unknown {
  const body: any = restJob(target.url, { idempotencyKey: `fuzz-${int(1e9)}`, messageGroupId: pick([undefined, 'g1']) });
  for (let i = 1 + int(3); i > 0; i--) {
    try {
      pick(BREAKERS)(body);
    } catch {
      // A breaker reached into a part an earlier one removed; the body is broken either way.
    }
  }
  return body;
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const admin: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}` };
const BAD_AUTH: Record<string, string>[] = [{}, { authorization: '' }, { authorization: 'Bearer' }, { authorization: `Bearer ${ADMIN_KEY.slice(0, -1)}` }, { authorization: `bearer  ${'z'.repeat(600)}` }, { authorization: `Basic ${ADMIN_KEY}` }, { authorization: 'Bearer \u00ff\u00fe' }];
const ID_LIKE = ['00000000-0000-0000-0000-000000000000', 'not-a-uuid', '..%2F..%2Fetc%2Fpasswd', '%00', '%F0%9F%92%A5', "1' OR '1'='1", 'x'.repeat(300), '019ad0c0-0000-7000-8000-000000000000'];

function generate(): FuzzRequest {
  const json = { 'content-type': 'application/json' };
  const kind = int(10);
  const createPath = pick(['/v1/jobs/create', '/v1/jobs/batch', '/v1/jobs/callback-http']);
  const wrap = (body: unknown) => (createPath === '/v1/jobs/batch' ? { jobs: pick([[body], [restJob(target.url), body], body, [], 'all']) } : body);
  switch (kind) {
    case 0: // A schema-breaking body.
    case 1:
    case 2:
      return { method: 'POST', path: createPath, headers: { ...json, ...admin }, body: JSON.stringify(wrap(createPath === '/v1/jobs/callback-http' ? pick([{ url: 'ftp://x' }, { appId: '', url: target.url }, { appId: 'a', url: target.url, method: 'FETCH' }, { appId: 'a', url: `http://u:p@127.0.0.1/` }, brokenCreateBody()]) : brokenCreateBody())) };
    case 3: { // Broken JSON: a valid body cut short, or noise.
      const text = JSON.stringify(restJob(target.url));
      return { method: 'POST', path: createPath, headers: { ...json, ...admin }, body: pick([text.slice(0, 1 + int(text.length - 2)), '{', '[', '"', 'null', '{"appId":', '\u0000\u0001', '{}'.repeat(100), '{"a":' + '['.repeat(5000)]) };
    }
    case 4: // A valid body with a wrong content type.
      return { method: 'POST', path: createPath, headers: { 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', '']), ...admin }, body: JSON.stringify(wrap(restJob(target.url))) };
    case 5: // A valid body with no or a bad key.
      return { method: 'POST', path: createPath, headers: { ...json, ...pick(BAD_AUTH) }, body: JSON.stringify(wrap(restJob(target.url))) };
    case 6: // Acting on jobs that do not exist, by any method.
      return { method: pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']), path: `/v1/jobs/${pick(ID_LIKE)}${pick(['', '/retry', '/cancel', '/deadletter', '/explode'])}`, headers: { ...pick([admin, ...BAD_AUTH]) } };
    case 7: // Listing with bad filters.
      return { method: 'GET', path: `/v1/jobs?${pick(['status=exploded', 'limit=0', 'limit=501', 'limit=abc', 'cursor=%%%', 'cursor=bm90LWEtY3Vyc29y', 'createdAfter=yesterday', 'unknown=1', 'appId=', 'messageGroupId=' + 'g'.repeat(200), 'messageGroupId=%00', 'appId=a%00b', 'executionType=%00'])}`, headers: admin };
    case 8: // Internal routes without the right token.
      return { method: 'POST', path: pick(['/internal/v1/run-db-jobs', '/internal/v1/jobs/run']), headers: { ...json, ...pick([{}, admin, { authorization: `Bearer ${INTERNAL_TOKEN}x` }, { authorization: 'Bearer a.b.c' }]) }, body: JSON.stringify({ limit: pick([1, 0, -1, 'all', 100_000]) }) };
    default: // Unknown routes and methods.
      return { method: pick(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']), path: pick(['/', '/v1', '/v1/', '/v2/jobs', '/v1/jobs/create/extra', '/internal', '/%2e%2e/', '/v1/jobs?x=' + '%'.repeat(3)]), headers: pick([admin, {}]) };
  }
}

t.test(`${REQUESTS} malformed requests (seed ${SEED}): no 5xx, no row written, still healthy`, async (t) => {
  const requests = Array.from({ length: REQUESTS }, generate);
  const statuses = new Map<number, number>();
  const serverErrors: string[] = [];
  for (let start = 0; start < requests.length; start += PARALLEL) {
    await Promise.all(requests.slice(start, start + PARALLEL).map(async (request, offset) => {
      const response = await fetch(service.url + request.path, { method: request.method, headers: request.headers, body: request.body });
      await response.arrayBuffer();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (response.status >= 500) serverErrors.push(`#${start + offset} ${request.method} ${request.path} -> ${response.status}`);
    }));
  }
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  t.same(serverErrors, [], `no 5xx (reproduce with FUZZ_SEED=${SEED})`);
  t.equal([...statuses.values()].reduce((sum, n) => sum + n, 0), REQUESTS, 'every request was answered');
  t.ok([...statuses.keys()].every((status) => status >= 400 || status === 200), 'only refusals, or 200 for reads');

  t.equal((await service.pool.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n, 0, 'no job row written');
  t.equal((await service.pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name LIKE 'switchyard-jobs%'")).rows[0].n, 0, 'nothing queued');
  t.equal((await service.pool.query('SELECT count(*)::int AS n FROM apps')).rows[0].n, 0, 'no app row written');
  t.equal(target.requests.length, 0, 'nothing sent');
  t.same((await service.get('/healthz')).body, { status: 'ok' }, 'healthy afterwards');
  const works = await service.post('/v1/jobs/create', restJob(target.url));
  t.equal(works.status, 202, 'and still creates jobs');
  t.same(service.logs.filter((line) => /unhandled error/.test(line)), [], 'no unhandled error was logged');
});
