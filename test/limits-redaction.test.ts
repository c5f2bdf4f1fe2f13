// Input limits (body, lambdaProxyMessage, URL, headers) and redaction: credentials a job carries,
// or a target echoes back, never reach last_error, last_response, API responses or logs.
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { MAX_URL_LENGTH } from '../src/http/app.ts';
import { MAX_LAMBDA_PROXY_MESSAGE_BYTES } from '../src/model/message-schema.ts';
import { redactText } from '../src/executors/redact.ts';
import { ADMIN_KEY, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';

const service = await startTestService(t, { env: { RUN_WORKERS: 'false' } });
const target = await startTarget();
t.teardown(() => target.close());
const countJobs = async () => (await service.pool.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n as number;

/** A raw request, so the test controls exactly what goes on the wire. */
function raw(path: string, headers: Record<string, string>): Promise<number> {
  const { hostname, port } = new URL(service.url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ hostname, port, path, method: 'GET', headers }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    request.on('error', reject);
    request.end();
  });
}

t.test('a lambdaProxyMessage larger than SQS allows (256 KiB) is refused naming the field', async (t) => {
  const before = await countJobs();
  const overhead = Buffer.byteLength(JSON.stringify({ httpMethod: 'POST', path: '/hook', body: '' }));
  const fits = await service.post('/v1/jobs/create', restJob(target.url, {}, { headers: undefined, body: 'x'.repeat(MAX_LAMBDA_PROXY_MESSAGE_BYTES - overhead) }));
  t.equal(fits.status, 202, 'exactly at the limit is accepted');
  const tooBig = await service.post('/v1/jobs/create', restJob(target.url, {}, { headers: undefined, body: 'x'.repeat(MAX_LAMBDA_PROXY_MESSAGE_BYTES - overhead + 1) }));
  t.equal(tooBig.status, 400);
  t.match(tooBig.body.fields, [{ field: 'message.lambdaProxyMessage', message: /256 KiB/ }]);
  const batch = await service.post('/v1/jobs/batch', { jobs: [restJob(target.url), restJob(target.url, {}, { body: 'y'.repeat(MAX_LAMBDA_PROXY_MESSAGE_BYTES) })] });
  t.equal(batch.status, 400);
  t.match(batch.body.fields, [{ field: 'jobs.1.message.lambdaProxyMessage' }]);
  t.equal(await countJobs(), before + 1, 'only the one that fits was stored');
});

t.test('request body, URL and header sizes are bounded', async (t) => {
  const huge = await service.post('/v1/jobs/create', { ...restJob(target.url), pad: 'x'.repeat(1024 * 1024) });
  t.equal(huge.status, 413);
  t.equal(huge.body.error, 'payload_too_large');
  const longUrl = await service.get(`/v1/jobs?cursor=${'a'.repeat(MAX_URL_LENGTH)}`);
  t.equal(longUrl.status, 414);
  t.equal(longUrl.body.error, 'uri_too_long');
  t.equal(await raw('/v1/jobs', { authorization: `Bearer ${ADMIN_KEY}`, 'x-padding': 'p'.repeat(20 * 1024) }), 431, 'headers over 16 KiB');
  t.equal(await raw('/v1/jobs', { authorization: `Bearer ${ADMIN_KEY}` }), 200, 'the service answers normally afterwards');
});

t.test('credentials never reach last_error, last_response, API responses or logs', async (t) => {
  const secrets = {
    execAuth: 'Bearer exec-secret-0a1b2c',
    apiKey: 'apikey-secret-3d4e5f',
    proxyToken: 'proxy-token-secret-6a7b8c',
    awsKeyId: 'AKIAIOSFODNN7EXAMPLE',
    awsSecret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  };
  // A debugging endpoint that echoes the request back, as many do, with an AWS credential in it.
  const echo = await startTarget((request) => ({
    status: 400,
    body: JSON.stringify({ headers: request.headers, leaked: `aws_secret_access_key=${secrets.awsSecret} id ${secrets.awsKeyId}` }),
  }));
  t.teardown(() => echo.close());
  const created = await service.post('/v1/jobs/create', restJob(echo.url, {
    retry: { maxAttempts: 1 },
    execution: { headers: { authorization: secrets.execAuth, 'x-api-key': secrets.apiKey } },
  }, { headers: { 'content-type': 'application/json', 'x-upstream-token': secrets.proxyToken } }));
  t.equal(created.status, 202);
  await service.post('/internal/v1/run-db-jobs', { limit: 10 }, { authorization: `Bearer ${service.config.internalToken}` });
  const row = await service.waitForStatus(created.body.id, ['failed', 'dead_lettered']);
  const received = echo.requests[0]!;
  t.equal(received.headers.authorization, secrets.execAuth, 'the target got the real credentials');
  t.ok(received.headers['switchyard-signature'], 'and a signature');
  t.ok(received.headers['webhook-signature'], 'and a Standard Webhooks signature');

  const recorded = JSON.stringify({ lastError: row.last_error, lastResponse: row.last_response });
  t.match(recorded, /\[redacted\]/, 'the echoed values were replaced');
  t.match(recorded, /x-plain|content-type/, 'the rest of the excerpt is kept');
  const view = JSON.stringify((await service.get(`/v1/jobs/${created.body.id}`)).body);
  const logs = service.logRecords.join('\n');
  for (const [name, value] of Object.entries({ ...secrets, signature: String(received.headers['switchyard-signature']), webhookSignature: String(received.headers['webhook-signature']), adminKey: ADMIN_KEY })) {
    const bare = value.replace(/^Bearer /, '');
    t.notOk(recorded.includes(bare), `${name} is not in last_error or last_response`);
    t.notOk(view.includes(bare), `${name} is not in the API response`);
    t.notOk(logs.includes(bare), `${name} is not in the logs`);
  }
});

t.test('redactText removes credential shapes it was not told about', async (t) => {
  const text = [
    'Authorization: Bearer abc.def.ghi',
    'authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261129/eu-west-1/lambda/aws4_request, Signature=0123',
    '{"secretAccessKey":"wJalrXUtnFEMI/K7MDENG","sessionToken":"FwoGZXIvYXdzEJr"}',
    'X-Amz-Security-Token=FwoGZXIvYXdzEJr&X-Amz-Signature=abcdef',
    'Switchyard-Signature: t=1764417600,v1=' + 'a'.repeat(64),
    '"webhook-signature":"v1,erHA/9cqpdfjwjxaHYQAOIy61mIjOZBN05YoEJytMrE= v1,' + 'B'.repeat(43) + '="',
  ].join('\n');
  const redacted = redactText(text);
  for (const secret of ['abc.def.ghi', 'AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI', 'FwoGZXIvYXdzEJr', 'abcdef', 'a'.repeat(64), 'erHA/9cqpdfjwjxaHYQAOIy61mIjOZBN05YoEJytMrE=', 'B'.repeat(43)]) {
    t.notOk(redacted.includes(secret), `${secret} removed`);
  }
  t.match(redacted, /Authorization: Bearer \[redacted\]/);
  t.equal(redactText('nothing secret here: HTTP 500'), 'nothing secret here: HTTP 500');
});
