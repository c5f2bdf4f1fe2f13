// Property-based tests of create over the real service (fast-check, seeded): accepted means
// executable. (a) Requests generated from the published request schema, with adversarial strings
// everywhere the schema leaves text free: each is either accepted and then sent to a loopback target
// exactly as asked (method, path, query, headers, body; through the DB lane, the SQS lane and
// lambda-url's signing alike), or refused with a 400 naming a field, storing nothing.
// (b) Arbitrary JSON and arbitrary bytes: a 4xx JSON answer, nothing stored, the service healthy.
// FUZZ_SEED reproduces a run; FUZZ_RUNS=<n> makes a larger one (default: a quick run in npm test).
import t from 'tap';
import fc from 'fast-check';
import { z } from 'zod';
import { CreateJobRequest } from '../src/model/message-schema.ts';
import { adversarialText, arbitraryOf } from './helpers/schema-arbitrary.ts';
import { startTestService } from './helpers/service.ts';
import { startTestSqs } from './helpers/sqs.ts';
import { startTarget, type ReceivedRequest } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x14ac);
const RUNS = Number(process.env.FUZZ_RUNS ?? 0);
const SCHEMA_RUNS = RUNS || 200;
const ARBITRARY_RUNS = RUNS || 300;

const sqs = await startTestSqs(t);
const queueUrl = await sqs.createFifoQueue('switchyard-property.fifo');
const service = await startTestService(t, { env: { AWS_SQS_QUEUE_URL: queueUrl, AWS_SQS_REGION: 'us-east-1' } });
const target = await startTarget(() => ({ status: 200, body: 'ok' }));
t.teardown(() => target.close());
const BASE_PATH = '/base';

const rowCount = async () => (await service.pool.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n as number;

// What the HTTP client sets or Switchyard adds: not the caller's to compare.
const NOT_COMPARED = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer',
  'proxy-connection', 'switchyard-job-id', 'switchyard-attempt', 'switchyard-signature', 'idempotency-key',
  'webhook-id', 'webhook-timestamp', 'webhook-signature', 'traceparent', 'tracestate']);
const SIGV4 = new Set(['authorization', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token']);

/** A path's bytes once percent-decoded, the way a receiver reads it. */
function pathBytes(path: string): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < path.length;) {
    if (path[i] === '%' && /^[0-9a-f]{2}$/i.test(path.slice(i + 1, i + 3))) {
      parts.push(Buffer.from([parseInt(path.slice(i + 1, i + 3), 16)]));
      i += 3;
    } else {
      const char = String.fromCodePoint(path.codePointAt(i)!);
      parts.push(Buffer.from(char, 'utf8'));
      i += char.length;
    }
  }
  return Buffer.concat(parts);
}

const lower = (map: Record<string, unknown> | null | undefined) => Object.entries(map ?? {}).map(([name, value]) => [name.toLowerCase(), value] as const);

/** The headers the caller asked for, as a receiver sees them: one value per name, repeated values joined by ", ". */
function expectedHeaders(request: any): Record<string, string> {
  const proxy = request.message.lambdaProxyMessage;
  const execution = request.message.execution;
  const headers: Record<string, string> = {};
  const multi = lower(proxy.multiValueHeaders);
  const multiNames = new Set(multi.map(([name]) => name));
  for (const [name, values] of multi) if ((values as string[]).length) headers[name] = [headers[name], ...(values as string[])].filter((v) => v !== undefined).join(', ');
  for (const [name, value] of lower(proxy.headers)) if (!multiNames.has(name)) headers[name] = value as string;
  for (const [name, value] of lower(execution.headers)) headers[name] = value as string;
  const skipped = execution.type === 'lambda-url' ? (name: string) => NOT_COMPARED.has(name) || SIGV4.has(name) : (name: string) => NOT_COMPARED.has(name);
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !skipped(name)).sort());
}

function receivedHeaders(received: ReceivedRequest, lambdaUrl: boolean): Record<string, string> {
  const headers: Record<string, string[]> = {};
  for (let i = 0; i < received.rawHeaders.length; i += 2) (headers[received.rawHeaders[i]!.toLowerCase()] ??= []).push(received.rawHeaders[i + 1]!);
  return Object.fromEntries(Object.entries(headers)
    .filter(([name]) => !NOT_COMPARED.has(name) && !(lambdaUrl && SIGV4.has(name)))
    .map(([name, values]) => [name, values.join(', ')] as [string, string]).sort());
}

function expectedQuery(proxy: any): Record<string, string[]> {
  const query: Record<string, string[]> = { ...proxy.multiValueQueryStringParameters };
  for (const [key, value] of Object.entries(proxy.queryStringParameters ?? {})) if (!Object.hasOwn(query, key)) query[key] = [value as string];
  return Object.fromEntries(Object.entries(query).filter(([, values]) => values.length).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function receivedQuery(url: URL): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [key, value] of url.searchParams) (query[key] ??= []).push(value);
  return Object.fromEntries(Object.entries(query).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function expectedBody(proxy: any): Buffer {
  if (typeof proxy.body !== 'string' || proxy.body === '') return Buffer.alloc(0);
  return Buffer.from(proxy.body, proxy.isBase64Encoded ? 'base64' : 'utf8');
}

const text = adversarialText();
/** Numbers kept to the range written without an exponent, so metadata is not refused for them alone. */
const plainNumbers = (value: unknown): unknown => {
  if (typeof value === 'number') return Math.abs(value) < 1e15 && Math.abs(value) >= 1e-6 ? value : Math.trunc(value % 1e9) || 0;
  if (Array.isArray(value)) return value.map(plainNumbers);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plainNumbers(item)]));
  return value;
};
const json = fc.oneof(
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(plainNumbers) },
  { weight: 2, arbitrary: text },
);
const schema = z.toJSONSchema(CreateJobRequest, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, any>;
const execution = schema.properties.message.properties.execution.oneOf as Record<string, any>[];
let run = 0;

/**
 * Requests from the schema, steered where the job must reach this test's target to be checked: the
 * execution is rest-api or lambda-url at the target, paths mostly start with /, runAt lies in the
 * past, and idempotency keys are made unique per run so that none names an earlier job.
 */
const requests = arbitraryOf(schema, {
  text,
  json,
  override: (path) => {
    if (path === 'message.execution') {
      return fc.oneof(
        { weight: 3, arbitrary: arbitraryOf(execution[0]!, { text, json }).map((value: any) => ({ ...value, baseUrl: target.url + BASE_PATH, timeoutMs: undefined })) },
        { weight: 1, arbitrary: arbitraryOf(execution[1]!, { text, json }).map((value: any) => ({ ...value, functionUrl: target.url + BASE_PATH, region: 'eu-west-1', timeoutMs: undefined })) },
      );
    }
    if (path === 'message.lambdaProxyMessage.path') return fc.oneof({ weight: 4, arbitrary: fc.array(text, { maxLength: 3 }).map((parts) => `/${parts.join('/')}`) }, { weight: 1, arbitrary: text });
    if (path === 'runAt') return fc.option(fc.date({ min: new Date('2001-01-01T00:00:00Z'), max: new Date(Date.now() - 60_000), noInvalidDate: true }).map((date) => date.toISOString()), { nil: undefined });
    if (path === 'delaySeconds' || path === 'appId') return fc.constant(undefined);
    if (path === 'message.lambdaProxyMessage.isBase64Encoded') return fc.option(fc.boolean(), { nil: undefined });
    if (path === 'message.lambdaProxyMessage.body') return fc.oneof(text, fc.base64String({ maxLength: 64 }), fc.constant(null));
    return undefined;
  },
}).map((request: any) => ({ ...request, appId: 'property', idempotencyKey: request.idempotencyKey === undefined ? undefined : `${run}-${request.idempotencyKey}` }));

t.test(`(a) ${SCHEMA_RUNS} requests from the schema (seed ${SEED}): accepted and sent exactly as asked, or refused naming a field`, async (t) => {
  const accepted = new Map<string, unknown>();
  const outcomes = { accepted: 0, refused: 0, byField: new Map<string, number>() };
  let rows = await rowCount();
  await fc.assert(fc.asyncProperty(requests, async (request: any) => {
    run++;
    const response = await service.post('/v1/jobs/create', request);
    if (response.status === 400) {
      outcomes.refused++;
      if (response.body.error !== 'validation_failed' || !response.body.fields?.length) throw new Error(`400 without fields: ${JSON.stringify(response.body)}`);
      for (const { field, message } of response.body.fields) {
        if (typeof field !== 'string' || field === '' || typeof message !== 'string') throw new Error(`a problem that names no field: ${JSON.stringify(response.body)}`);
        // Grouped by the schema's own field names: a map's keys are the caller's.
        const top = field.split('.').slice(0, field.startsWith('message.metadata') ? 2 : 3).join('.');
        outcomes.byField.set(top, (outcomes.byField.get(top) ?? 0) + 1);
      }
      if (await rowCount() !== rows) throw new Error(`a refused request stored a row: ${JSON.stringify(response.body)}`);
      return;
    }
    if (response.status !== 202) throw new Error(`create answered ${response.status}: ${JSON.stringify(response.body)}`);
    outcomes.accepted++;
    accepted.set(response.body.id, request);
    if (request.mode !== 'sqs') rows++;
    const received = await waitFor(async () => target.requests.find((r) => r.headers['switchyard-job-id'] === response.body.id), { timeoutMs: 15_000, what: `job ${response.body.id} to reach the target` });
    const proxy = request.message.lambdaProxyMessage;
    const url = new URL(received.url, 'http://target');
    const sent = {
      method: received.method,
      path: pathBytes(url.pathname).toString('hex'),
      query: receivedQuery(url),
      headers: receivedHeaders(received, request.message.execution.type === 'lambda-url'),
      idempotencyKey: received.headers['idempotency-key'],
      body: received.body.toString('hex'),
    };
    const asked = {
      method: proxy.httpMethod,
      path: pathBytes(BASE_PATH + proxy.path).toString('hex'),
      query: expectedQuery(proxy),
      headers: expectedHeaders(request),
      idempotencyKey: request.idempotencyKey,
      body: proxy.httpMethod === 'HEAD' ? sent.body : expectedBody(proxy).toString('hex'),
    };
    if (JSON.stringify(sent) !== JSON.stringify(asked)) throw new Error(`sent differs from asked:\n${JSON.stringify({ sent, asked })}`);
  }), { seed: SEED, numRuns: SCHEMA_RUNS, endOnFailure: true });
  t.comment(`accepted ${outcomes.accepted}, refused ${outcomes.refused}; refusals by field: ${JSON.stringify(Object.fromEntries(outcomes.byField))}`);
  t.ok(outcomes.accepted >= SCHEMA_RUNS / 10, 'enough were accepted to check what was sent');
  t.ok(outcomes.refused >= SCHEMA_RUNS / 10, 'enough were refused to check the refusals');
  t.equal(target.requests.length, accepted.size, 'each accepted job was sent once, and nothing else was');
});

const PATHS = ['/v1/jobs/create', '/v1/jobs/batch', '/v1/jobs/callback-http'];
const bodies = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: fc.record({ appId: json, mode: json, message: json, jobs: fc.array(json, { maxLength: 2 }), url: json }, { requiredKeys: [] }).map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: text },
);

t.test(`(b) ${ARBITRARY_RUNS} arbitrary JSON and byte bodies (seed ${SEED}): a 4xx JSON answer, nothing stored, the service healthy`, async (t) => {
  const rows = await rowCount();
  const sent = target.requests.length;
  const statuses = new Map<number, number>();
  await fc.assert(fc.asyncProperty(fc.constantFrom(...PATHS), bodies, async (path, body) => {
    const response = await fetch(service.url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${service.config.bootstrapAdminKey}` }, body });
    const answer = await response.text();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    if (response.status < 400 || response.status >= 500) throw new Error(`${path} answered ${response.status}: ${answer}`);
    const parsed = JSON.parse(answer);
    if (typeof parsed.error !== 'string' || typeof parsed.message !== 'string') throw new Error(`not a JSON error: ${answer}`);
  }), { seed: SEED, numRuns: ARBITRARY_RUNS, endOnFailure: true });
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.equal(await rowCount(), rows, 'nothing stored');
  t.equal(target.requests.length, sent, 'nothing sent');
  t.same((await service.get('/healthz')).body, { status: 'ok' }, 'healthy afterwards');
  t.same(service.logs.filter((line) => /unhandled error/.test(line)), [], 'no request reached the 500 path');
});

const LIST_KEYS = ['appId', 'status', 'executionType', 'messageGroupId', 'createdAfter', 'createdBefore', 'limit', 'cursor'];

t.test(`(c) ${ARBITRARY_RUNS} list queries with arbitrary values (seed ${SEED}): never a 5xx`, async (t) => {
  const queries = fc.dictionary(fc.oneof(fc.constantFrom(...LIST_KEYS), text), fc.oneof(text, fc.base64String({ maxLength: 40 })), { maxKeys: 3 });
  await fc.assert(fc.asyncProperty(queries, async (query) => {
    const search = new URLSearchParams(Object.entries(query).map(([key, value]) => [key.toWellFormed(), value.toWellFormed()])).toString();
    const response = await service.get(`/v1/jobs?${search}`);
    if (response.status >= 500) throw new Error(`GET /v1/jobs?${search} answered ${response.status}`);
  }), { seed: SEED, numRuns: ARBITRARY_RUNS, endOnFailure: true });
  t.same(service.logs.filter((line) => /unhandled error/.test(line)), [], 'no request reached the 500 path');
});
