// W3C trace context: a create's traceparent and tracestate are kept with the job and sent with
// every attempt (through the DB lane, the SQS lane and lambda-invoke's proxy event); a create
// without one, or with an invalid one, gets a fresh one. No tracer provider is registered here, so
// the target gets the stored traceparent unchanged (trace-spans.test.ts registers one).
import t from 'tap';
import { toProxyEvent } from '../src/executors/lambda-invoke.ts';
import { freshTraceContext, incomingTraceContext, parseTraceparent, parseTracestate } from '../src/ops/trace.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTestSqs } from './helpers/sqs.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

t.test('traceparent is validated as the W3C specification says', async (t) => {
  t.equal(parseTraceparent(VALID), VALID);
  t.equal(parseTraceparent(` ${VALID} `), VALID, 'surrounding spaces are trimmed');
  t.equal(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future'), VALID, 'a later version is read by its first fields and sent as 00');
  for (const invalid of [
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01', // uppercase
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // all-zero trace id
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // all-zero parent id
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
    `${VALID}-extra`, // version 00 is exactly 55 characters
    '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', // short trace id
    'not a traceparent',
  ]) t.equal(parseTraceparent(invalid), undefined, invalid);
  t.equal(parseTracestate('congo=t61rcWkgMzE, rojo=00f067aa0ba902b7'), 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  t.equal(parseTracestate('Bad Key=1'), null, 'an invalid tracestate is dropped');
  t.equal(parseTracestate(`a=${'x'.repeat(600)}`), null, 'so is one longer than 512 characters');
  t.match(freshTraceContext(), { traceparent: /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, tracestate: null });
  t.equal(incomingTraceContext({ traceparent: 'garbage', tracestate: 'a=1' }).tracestate, null, 'no tracestate without a valid traceparent');
  const event = toProxyEvent({ httpMethod: 'POST', path: '/x' }, {
    jobId: 'j', appId: 'a', attempt: 1, idempotencyKey: undefined, lambdaProxyMessage: { httpMethod: 'POST', path: '/x' },
    execution: { type: 'lambda-invoke', functionName: 'f' }, signal: new AbortController().signal, trace: { traceparent: VALID, tracestate: 'a=1' },
  }) as { headers: Record<string, string>; multiValueHeaders: Record<string, string[]> };
  t.equal(event.headers.traceparent, VALID, 'lambda-invoke puts it in the proxy event\'s headers');
  t.same(event.multiValueHeaders.tracestate, ['a=1']);
});

const sqs = await startTestSqs(t);
const queueUrl = await sqs.createFifoQueue('switchyard-trace.fifo');
const service = await startTestService(t, { env: { AWS_SQS_QUEUE_URL: queueUrl, AWS_SQS_REGION: 'us-east-1', RUN_WORKERS: 'false', RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };
let calls = 0;
const target = await startTarget(() => (calls++ === 0 ? { status: 503 } : { status: 200 }));
t.teardown(() => target.close());
/** No workers run here: the cron entry point runs due DB-lane jobs (the retry is due 1-2 s after its failure). */
const runUntilCompleted = (id: string) => waitFor(async () => {
  await service.post('/internal/v1/run-db-jobs', { limit: 10 }, auth);
  return (await service.job(id))!.status === 'completed';
}, { timeoutMs: 20_000, intervalMs: 250, what: `job ${id} to complete` });
const traceHeaders = () => target.requests.map((request) => [request.headers.traceparent, request.headers.tracestate]);

t.test('the DB lane: every attempt goes out in the trace the job was created in', async (t) => {
  calls = 0;
  target.requests.length = 0;
  const created = await service.post('/v1/jobs/create', restJob(target.url), { traceparent: VALID, tracestate: 'congo=t61rcWkgMzE' });
  t.equal(created.status, 202);
  t.match(await service.job(created.body.id), { traceparent: VALID, tracestate: 'congo=t61rcWkgMzE' }, 'kept with the job');
  t.equal((await service.get(`/v1/jobs/${created.body.id}`)).body.traceparent, VALID, 'and shown by the API');
  await runUntilCompleted(created.body.id);
  t.same(traceHeaders(), [[VALID, 'congo=t61rcWkgMzE'], [VALID, 'congo=t61rcWkgMzE']], 'both attempts, the retry too');
});

t.test('no traceparent, or an invalid one: a fresh trace, and the create still succeeds', async (t) => {
  const requests: Record<string, string>[] = [{}, { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', tracestate: 'a=1' }];
  for (const headers of requests) {
    const created = await service.post('/v1/jobs/create', restJob(target.url, { delaySeconds: 3600 }), headers);
    t.equal(created.status, 202);
    const row = (await service.job(created.body.id))!;
    t.match(row.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    t.not(row.traceparent!.slice(3, 35), '0'.repeat(32));
    t.equal(row.tracestate, null);
  }
  const batch = await service.post('/v1/jobs/batch', { jobs: [restJob(target.url, { delaySeconds: 3600 }), restJob(target.url, { delaySeconds: 3600 })] }, { traceparent: VALID });
  for (const { id } of batch.body.jobs) t.equal((await service.job(id))!.traceparent, VALID, 'a batch is created in the request\'s trace');
  const legacy = await service.post('/v1/jobs/callback-http', { appId: 'legacy', url: `${target.url}/old`, runAt: new Date(Date.now() + 3_600_000).toISOString() }, { traceparent: VALID });
  t.equal((await service.job(legacy.body.id))!.traceparent, VALID, 'and so is a legacy callback-http job');
});

t.test('the SQS lane carries it in the message, and a hand-over to the DB lane keeps it', async (t) => {
  calls = 0;
  target.requests.length = 0;
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', retry: { maxAttempts: 3, baseDelaySeconds: 1, maxDelaySeconds: 1 } }), { traceparent: VALID, tracestate: 'rojo=1' });
  t.equal(created.status, 202);
  t.match(await service.post('/internal/v1/poll-sqs', { limit: 10 }, auth), { body: { handedOver: 1 } }, 'the first attempt failed and went to the DB lane');
  t.match(await service.job(created.body.id), { traceparent: VALID, tracestate: 'rojo=1' }, 'the row made at the hand-over keeps the trace');
  await runUntilCompleted(created.body.id);
  t.same(traceHeaders(), [[VALID, 'rojo=1'], [VALID, 'rojo=1']]);
});
