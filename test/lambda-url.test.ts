// lambda-url: requests signed with SigV4 from the default credential chain, checked by a loopback
// server that recomputes the signature itself (test/helpers/sigv4-verifier.ts).
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { request as httpRequest } from 'node:http';
import t from 'tap';
import { Webhook } from 'standardwebhooks';
import { AppKeys } from '../src/apps/app-keys.ts';
import type { ExecutionRequest, Outcome } from '../src/executors/executor.ts';
import { createLambdaUrlExecutor, regionOf } from '../src/executors/lambda-url.ts';
import { standardWebhooksSecret, verifySignature } from '../src/signature.ts';
import { startTestService } from './helpers/service.ts';
import { verifySigV4, type VerifierKeys } from './helpers/sigv4-verifier.ts';
import { startTarget, type ReceivedRequest, loopbackDispatcher } from './helpers/target.ts';

const keys: VerifierKeys = {
  accessKeyId: 'AKIDSWITCHYARDTEST',
  secretAccessKey: 'test-secret-key/with+odd=chars',
  sessionToken: 'test-session-token',
  region: 'eu-west-1',
  service: 'lambda',
};
// The executor reads these through the AWS default provider chain, as it would in production.
process.env.AWS_ACCESS_KEY_ID = keys.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = keys.secretAccessKey;
process.env.AWS_SESSION_TOKEN = keys.sessionToken;

const verdicts: string[] = [];
const functionUrl = await startTarget((request) => {
  const verdict = verifySigV4(request, keys);
  verdicts.push(verdict.ok ? 'ok' : verdict.reason);
  return verdict.ok ? { status: 200, body: '{"signed":"yes"}' } : { status: 403, body: JSON.stringify({ message: verdict.reason }) };
});
t.teardown(() => functionUrl.close());

const executor = createLambdaUrlExecutor({ defaultTimeoutMs: 5_000, region: undefined, credentials: defaultProvider(), dispatcher: loopbackDispatcher() });

function run(overrides: Partial<ExecutionRequest> = {}, execution: Record<string, unknown> = {}): Promise<Outcome> {
  return executor.execute({
    jobId: '0190f3c2-7c1e-7000-8000-000000000001',
    appId: 'test-app',
    attempt: 1,
    idempotencyKey: 'key-1',
    lambdaProxyMessage: {
      httpMethod: 'POST',
      path: '/orders/a b',
      queryStringParameters: { q: 'x y+z', plain: '1' },
      multiValueQueryStringParameters: { many: ['2', '1'] },
      headers: { 'content-type': 'application/json', 'x-custom': '  spaced   value ' },
      body: '{"total":10}',
    },
    execution: { type: 'lambda-url', functionUrl: functionUrl.url + '/fn', region: 'eu-west-1', ...execution } as any,
    signal: new AbortController().signal,
    ...overrides,
  });
}

/** Sends a recorded request again, as recorded or changed, and returns the verifier's status. */
function replay(recorded: ReceivedRequest, change: { body?: string; headers?: Record<string, string> } = {}): Promise<number> {
  const body = change.body === undefined ? recorded.body : Buffer.from(change.body);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(recorded.headers)) if (typeof value === 'string') headers[name] = value;
  Object.assign(headers, change.headers, { 'content-length': String(body.byteLength) });
  return new Promise((resolve, reject) => {
    const req = httpRequest(functionUrl.url + recorded.url, { method: recorded.method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('a signed request passes an independent SigV4 check and the job outcome is recorded like rest-api', async (t) => {
  const outcome = await run();
  t.equal(verdicts.at(-1), 'ok');
  t.match(outcome, { kind: 'ok', response: { status: 200, body: '{"signed":"yes"}', truncated: false, durationMs: Number } });
  const sent = functionUrl.requests.at(-1)!;
  t.equal(sent.url, '/fn/orders/a%20b?many=2&many=1&q=x%20y%2Bz&plain=1');
  t.equal(sent.body.toString(), '{"total":10}');
  t.equal(sent.headers['x-amz-security-token'], keys.sessionToken, 'the session token from the chain is sent');
  t.match(sent.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDSWITCHYARDTEST\/\d{8}\/eu-west-1\/lambda\/aws4_request, /);
  const signed = /SignedHeaders=([^,]+)/.exec(String(sent.headers.authorization))![1]!.split(';');
  t.same(signed.sort(), ['content-type', 'host', 'idempotency-key', 'switchyard-attempt', 'switchyard-job-id', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token', 'x-custom'].sort(),
    'exactly the headers the job sends are signed');
  t.equal(await replay(sent), 200, 'the same request sent again still passes');
});

t.test('a changed body, header, date or key is refused', async (t) => {
  await run();
  const sent = functionUrl.requests.at(-1)!;
  t.equal(await replay(sent, { body: '{"total":99}' }), 403);
  t.equal(verdicts.at(-1), 'x-amz-content-sha256 does not match the body');
  t.equal(await replay(sent, { body: '{"total":99}', headers: { 'x-amz-content-sha256': 'a'.repeat(64) } }), 403);
  t.equal(await replay(sent, { headers: { 'x-custom': 'other' } }), 403);
  t.equal(verdicts.at(-1), 'signature does not match');
  const date = String(sent.headers['x-amz-date']);
  const later = date.slice(0, 13) + String((Number(date.slice(13, 15)) + 1) % 60).padStart(2, '0') + date.slice(15);
  t.equal(await replay(sent, { headers: { 'x-amz-date': later } }), 403);
  t.equal(verdicts.at(-1), 'signature does not match');

  process.env.AWS_SECRET_ACCESS_KEY = 'another-secret';
  t.teardown(() => {
    process.env.AWS_SECRET_ACCESS_KEY = keys.secretAccessKey;
  });
  const wrongKey = createLambdaUrlExecutor({ defaultTimeoutMs: 5_000, region: 'eu-west-1', credentials: defaultProvider(), dispatcher: loopbackDispatcher() });
  const outcome = await wrongKey.execute({
    jobId: '0190f3c2-7c1e-7000-8000-000000000002', appId: 'test-app', attempt: 1, idempotencyKey: undefined,
    lambdaProxyMessage: { httpMethod: 'GET', path: '/' },
    execution: { type: 'lambda-url', functionUrl: functionUrl.url },
    signal: new AbortController().signal,
  });
  t.equal(verdicts.at(-1), 'signature does not match');
  t.match(outcome, { kind: 'fail', reason: 'HTTP 403' }, 'a refused signature fails at once, as any other 403');
});

t.test('the region comes from the job, then the URL, then the config', async (t) => {
  t.equal(regionOf({ type: 'lambda-url', functionUrl: 'https://abc.lambda-url.ap-southeast-2.on.aws/' }, 'eu-west-1'), 'ap-southeast-2');
  t.equal(regionOf({ type: 'lambda-url', functionUrl: 'https://abc.lambda-url.ap-southeast-2.on.aws/', region: 'us-east-1' }, 'eu-west-1'), 'us-east-1');
  t.equal(regionOf({ type: 'lambda-url', functionUrl: 'http://127.0.0.1:1/' }, 'eu-west-1'), 'eu-west-1');
  const noRegion = await run({}, { region: undefined });
  t.match(noRegion, { kind: 'fail', reason: /no region to sign for/ });
  const signedFor = await run({}, { region: 'us-east-2' });
  t.match(signedFor, { kind: 'fail', reason: 'HTTP 403' });
  t.equal(verdicts.at(-1), 'wrong scope us-east-2/lambda');
});

t.test('timeouts and 5xx retry as in rest-api', async (t) => {
  const slow = await startTarget((_request, index) => (index === 0 ? { status: 200, delayMs: 1_000 } : { status: 503 }));
  t.teardown(() => slow.close());
  const timedOut = await run({}, { functionUrl: slow.url, timeoutMs: 200 });
  t.match(timedOut, { kind: 'retry', reason: 'timed out after 200 ms' });
  const busy = await run({}, { functionUrl: slow.url });
  t.match(busy, { kind: 'retry', reason: 'HTTP 503', response: { status: 503 } });
});

t.test('end to end: a lambda-url job completes with its response stored', async (t) => {
  const service = await startTestService(t, { env: { AWS_LAMBDA_REGION: 'eu-west-1' } });
  const created = await service.post('/v1/jobs/create', {
    appId: 'test-app',
    mode: 'db',
    message: {
      lambdaProxyMessage: { httpMethod: 'POST', path: '/hook', body: '{"n":1}' },
      execution: { type: 'lambda-url', functionUrl: functionUrl.url },
    },
  });
  t.equal(created.status, 202);
  const row = await service.waitForStatus(created.body.id, 'completed');
  t.match(row.last_response, { status: 200, body: '{"signed":"yes"}' });
  t.equal(verdicts.at(-1), 'ok');

  // The function can also check the receiver's signatures, as it must behind AuthType NONE.
  const received = functionUrl.requests.at(-1)!;
  const [secret] = (await new AppKeys(service.pool).signingSecrets(['test-app'])).get('test-app')!;
  t.same(new Webhook(standardWebhooksSecret(secret!)).verify(received.body, received.headers as Record<string, string>), { n: 1 }, 'Standard Webhooks verifies');
  t.equal(received.headers['webhook-id'], created.body.id);
  t.match(verifySignature(received.headers['switchyard-signature'], { method: 'POST', url: functionUrl.url + received.url, body: received.body }, { secret: secret! }), { ok: true }, 'and so does Switchyard-Signature');
  const signed = /SignedHeaders=([^,]+)/.exec(String(received.headers.authorization))![1]!.split(';');
  t.ok(['switchyard-signature', 'webhook-id', 'webhook-signature', 'webhook-timestamp'].every((name) => signed.includes(name)), 'SigV4 covers them too');
});
