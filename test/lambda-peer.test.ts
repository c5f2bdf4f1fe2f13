// lambda-invoke and lambda-url against serverless-offline, a real Lambda peer running the fixture
// handlers in test/fixtures/lambda-peer. The AWS SDK finds it through AWS_ENDPOINT_URL_LAMBDA alone.
import { LambdaClient } from '@aws-sdk/client-lambda';
import t from 'tap';
import { createAwsClients } from '../src/aws/clients.ts';
import { parseConfig } from '../src/config/config.ts';
import type { ExecutionRequest } from '../src/executors/executor.ts';
import { createLambdaInvokeExecutor } from '../src/executors/lambda-invoke.ts';
import { startLambdaPeer } from './helpers/lambda-peer.ts';
import { startTestService } from './helpers/service.ts';
import { startTarget, type TargetReply } from './helpers/target.ts';

process.env.AWS_ACCESS_KEY_ID = 'AKIDPEERTEST';
process.env.AWS_SECRET_ACCESS_KEY = 'peer-secret';
delete process.env.AWS_SESSION_TOKEN;

const peer = await startLambdaPeer(t);
process.env.AWS_ENDPOINT_URL_LAMBDA = peer.lambdaEndpoint;
const aws = createAwsClients(parseConfig({ AWS_LAMBDA_REGION: 'eu-west-1' }));
t.teardown(() => aws.destroy());
const invoke = createLambdaInvokeExecutor({ lambda: aws.lambda, defaultTimeoutMs: 10_000 });

function request(execution: Record<string, unknown>, body = '{"hello":"lambda"}'): ExecutionRequest {
  return {
    jobId: '0190f3c2-7c1e-7000-8000-00000000000a',
    appId: 'test-app',
    attempt: 2,
    idempotencyKey: 'idem-1',
    lambdaProxyMessage: {
      httpMethod: 'POST',
      path: '/orders',
      headers: { 'content-type': 'application/json' },
      queryStringParameters: { page: '2' },
      body,
    },
    execution: { type: 'lambda-invoke', ...execution } as any,
    signal: new AbortController().signal,
  };
}

t.test('RequestResponse: the function gets an API Gateway proxy event and its answer is stored', async (t) => {
  const outcome = await invoke.execute(request({ functionName: peer.functionName('echo'), invocationType: 'RequestResponse' }));
  t.equal(outcome.kind, 'ok');
  t.equal(outcome.response!.status, 200);
  const answer = JSON.parse(outcome.response!.body);
  const event = JSON.parse(answer.body);
  t.match(event, {
    httpMethod: 'POST',
    path: '/orders',
    resource: '/orders',
    body: '{"hello":"lambda"}',
    isBase64Encoded: false,
    queryStringParameters: { page: '2' },
    multiValueQueryStringParameters: { page: ['2'] },
    headers: { 'content-type': 'application/json', 'Switchyard-Job-Id': '0190f3c2-7c1e-7000-8000-00000000000a', 'Switchyard-Attempt': '2', 'Idempotency-Key': 'idem-1' },
    multiValueHeaders: { 'content-type': ['application/json'] },
    requestContext: { requestId: '0190f3c2-7c1e-7000-8000-00000000000a', httpMethod: 'POST', path: '/orders' },
  });
});

t.test('Event is the default and 202 is success', async (t) => {
  const outcome = await invoke.execute(request({ functionName: peer.functionName('echo') }));
  t.match(outcome, { kind: 'ok', response: { status: 202, body: '' } });
});

t.test('a handler that throws is retried, with its FunctionError stored', async (t) => {
  const outcome = await invoke.execute(request({ functionName: peer.functionName('fails'), invocationType: 'RequestResponse' }));
  t.match(outcome, { kind: 'retry', reason: 'function error: Unhandled', response: { status: 200, functionError: 'Unhandled' } });
  t.match(JSON.parse(outcome.response!.body), { errorMessage: 'the handler broke' });
});

t.test('a proxy answer is judged by its statusCode', async (t) => {
  const fourOhFour = await invoke.execute(request({ functionName: peer.functionName('status'), invocationType: 'RequestResponse' }, '{"statusCode":404}'));
  t.match(fourOhFour, { kind: 'fail', reason: 'function answered statusCode 404' });
  const busy = await invoke.execute(request({ functionName: peer.functionName('status'), invocationType: 'RequestResponse' }, '{"statusCode":503}'));
  t.match(busy, { kind: 'retry', reason: 'function answered statusCode 503' });
});

t.test('an unknown function fails at once', async (t) => {
  const outcome = await invoke.execute(request({ functionName: 'no-such-function', invocationType: 'RequestResponse' }));
  t.match(outcome, { kind: 'fail', reason: /^ResourceNotFoundException/ });
});

t.test('the qualifier is sent; throttling, service errors and timeouts retry, invalid requests fail', async (t) => {
  const replies: TargetReply[] = [
    { status: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json', 'x-amz-executed-version': '7' } },
    { status: 429, body: '{"message":"Rate exceeded"}', headers: { 'x-amzn-errortype': 'TooManyRequestsException' } },
    { status: 500, body: '{"message":"oops"}', headers: { 'x-amzn-errortype': 'ServiceException' } },
    { status: 400, body: '{"message":"bad json"}', headers: { 'x-amzn-errortype': 'InvalidRequestContentException' } },
    { status: 200, body: '{}', delayMs: 1_000 },
  ];
  const lambdaApi = await startTarget((_request, index) => replies[index]!);
  t.teardown(() => lambdaApi.close());
  const client = new LambdaClient({ endpoint: lambdaApi.url, region: 'eu-west-1', maxAttempts: 1 });
  t.teardown(() => client.destroy());
  const direct = createLambdaInvokeExecutor({ lambda: async () => client, defaultTimeoutMs: 10_000 });
  const execution = { functionName: 'orders', qualifier: 'live', invocationType: 'RequestResponse' };
  t.match(await direct.execute(request(execution)), { kind: 'ok' });
  t.equal(lambdaApi.requests[0]!.url, '/2015-03-31/functions/orders/invocations?Qualifier=live');
  t.equal(lambdaApi.requests[0]!.headers['x-amz-invocation-type'], 'RequestResponse');
  t.match(await direct.execute(request(execution)), { kind: 'retry', reason: /^TooManyRequestsException/ });
  t.match(await direct.execute(request(execution)), { kind: 'retry', reason: /^ServiceException/ });
  t.match(await direct.execute(request(execution)), { kind: 'fail', reason: /^InvalidRequestContentException/ });
  t.match(await direct.execute(request({ ...execution, timeoutMs: 200 })), { kind: 'retry', reason: 'timed out after 200 ms' });
});

t.test('end to end through the DB lane: lambda-invoke and lambda-url jobs against the peer', async (t) => {
  const service = await startTestService(t, { env: { AWS_LAMBDA_REGION: 'eu-west-1' } });
  const job = (execution: Record<string, unknown>, extra: Record<string, unknown> = {}) => service.post('/v1/jobs/create', {
    appId: 'peer-app',
    mode: 'db',
    message: { lambdaProxyMessage: { httpMethod: 'POST', path: '/', body: '{"n":1}' }, execution },
    ...extra,
  });

  const invoked = await job({ type: 'lambda-invoke', functionName: peer.functionName('echo'), invocationType: 'RequestResponse' });
  const completed = await service.waitForStatus(invoked.body.id, 'completed');
  t.match(JSON.parse(JSON.parse((completed.last_response as any).body).body), { httpMethod: 'POST', body: '{"n":1}', requestContext: { requestId: invoked.body.id } });

  const broken = await job({ type: 'lambda-invoke', functionName: peer.functionName('fails'), invocationType: 'RequestResponse' }, { retry: { maxAttempts: 2, baseDelaySeconds: 1, maxDelaySeconds: 1 } });
  const dead = await service.waitForStatus(broken.body.id, 'dead_lettered', 20_000);
  t.equal(dead.attempts, 2, 'the throwing handler was tried again');
  t.match(dead.last_response, { functionError: 'Unhandled' });

  const viaUrl = await job({ type: 'lambda-url', functionUrl: peer.functionUrl('echo') });
  const urlDone = await service.waitForStatus(viaUrl.body.id, 'completed');
  const event = JSON.parse((urlDone.last_response as any).body);
  t.match(event, { body: '{"n":1}', requestContext: { http: { method: 'POST' } } }, 'the function URL delivered a version-2.0 event');
  // The function received the signed request (test/lambda-url.test.ts verifies the signature itself);
  // its echo of the Authorization header is redacted before it lands in last_response.
  t.equal(event.headers.authorization, '[redacted]', 'the signature reached the function and is kept out of last_response');
  t.match(event.headers['x-amz-date'], /^\d{8}T\d{6}Z$/);
  t.notMatch(JSON.stringify(urlDone.last_response), /AKIDPEERTEST/, 'no access key id in last_response');
  t.equal(event.headers['switchyard-job-id'], viaUrl.body.id);
});
