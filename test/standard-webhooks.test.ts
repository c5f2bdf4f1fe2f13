// Standard Webhooks: docs/receiving.md's test vectors hold for our signer and for the maintained
// `standardwebhooks` npm library, and real deliveries from a running service verify with that
// library, using the secret the CLI prints, across retries and a rotation.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { AppKeys } from '../src/apps/app-keys.ts';
import { signRequest, signStandardWebhook, standardWebhooksSecret, verifySignature } from '../src/signature.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget, type ReceivedRequest } from './helpers/target.ts';

/** The name → value table between the test-vectors markers of docs/receiving.md. */
function documentedVectors(): Record<string, string> {
  const doc = readFileSync(new URL('../docs/receiving.md', import.meta.url), 'utf8');
  const table = doc.slice(doc.indexOf('<!-- test-vectors:start -->'), doc.indexOf('<!-- test-vectors:end -->'));
  const rows = [...table.matchAll(/^\| ([^|`]+?) \| `([^`]+)` \|$/gm)];
  return Object.fromEntries(rows.map(([, name, value]) => [name!, value!]));
}

t.test('the documented test vectors hold for our signer and for the standardwebhooks library', async (t) => {
  const vectors = documentedVectors();
  t.equal(Object.keys(vectors).length, 11, 'every row of the table was read');
  const secret = vectors['signing secret']!;
  const at = new Date(Number(vectors.timestamp) * 1000);
  const request = { method: vectors.method!, url: vectors.url!, body: vectors.body! };

  t.equal(signRequest(request, [secret], at), vectors['Switchyard-Signature']);
  t.equal(standardWebhooksSecret(secret), vectors['Standard Webhooks secret']);
  t.same(signStandardWebhook({ id: vectors['job id']!, body: request.body }, [secret], at), {
    'webhook-id': vectors['webhook-id'],
    'webhook-timestamp': vectors['webhook-timestamp'],
    'webhook-signature': vectors['webhook-signature'],
  });
  // An implementation that is not ours, from the documented secret alone.
  t.equal(new Webhook(vectors['Standard Webhooks secret']!).sign(vectors['webhook-id']!, at, request.body), vectors['webhook-signature']);
  t.match(verifySignature(vectors['Switchyard-Signature'], request, { secret, now: at }), { ok: true });
});

t.test('a rotation signs with both secrets; a receiver on either verifies', async (t) => {
  const at = new Date();
  const headers = signStandardWebhook({ id: 'job-1', body: '{"a":1}' }, ['whsec_old', 'whsec_new'], at);
  t.match(headers['webhook-signature'], /^v1,[\w+/]{43}= v1,[\w+/]{43}=$/);
  for (const secret of ['whsec_old', 'whsec_new']) {
    t.same(new Webhook(standardWebhooksSecret(secret)).verify('{"a":1}', headers), { a: 1 }, `a receiver on ${secret}`);
  }
  t.throws(() => new Webhook(standardWebhooksSecret('whsec_other')).verify('{"a":1}', headers), WebhookVerificationError);
  t.not(standardWebhooksSecret('whsec_old'), standardWebhooksSecret('whsec_new'));
});

t.test('real deliveries verify with the standardwebhooks library and the secret the CLI prints', async (t) => {
  const service = await startTestService(t);
  // The first request to /flaky fails, so its job is delivered twice.
  let flakyCalls = 0;
  const target = await startTarget((request) => (request.url === '/flaky' && flakyCalls++ === 0 ? { status: 503 } : { status: 200 }));
  t.teardown(() => target.close());
  const { stdout } = await promisify(execFile)(process.execPath, ['src/cli.ts', 'apps', 'secret', 'webhook-app'], {
    env: { ...process.env, DATABASE_URL: service.database.connectionString },
  });
  const printed = /Standard Webhooks secret[^\n]*\n\s+current: (whsec_\S+)/.exec(stdout)?.[1];
  t.ok(printed, 'apps secret prints the Standard Webhooks secret');
  const [signingSecret] = (await new AppKeys(service.pool).signingSecrets(['webhook-app'])).get('webhook-app')!;
  t.equal(printed, standardWebhooksSecret(signingSecret!), 'derived from the app signing secret');

  const webhook = new Webhook(printed!);
  const headersOf = (received: ReceivedRequest) => received.headers as Record<string, string>;
  const created = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'webhook-app' }, { path: '/order', body: '{"order":7}' }));
  await service.waitForStatus(created.body.id, 'completed');
  const delivered = target.requests.find((received) => received.url === '/order')!;
  t.same(webhook.verify(delivered.body, headersOf(delivered)), { order: 7 }, 'a real delivery verifies');
  t.equal(delivered.headers['webhook-id'], created.body.id, 'webhook-id is the job id');
  t.equal(delivered.headers['webhook-timestamp'], /^t=(\d+)/.exec(String(delivered.headers['switchyard-signature']))![1], 'one timestamp for both signatures');
  t.throws(() => webhook.verify(Buffer.from('{"order":8}'), headersOf(delivered)), WebhookVerificationError, 'a tampered body does not');
  t.throws(() => webhook.verify(delivered.body, { ...headersOf(delivered), 'webhook-id': 'another-job' }), WebhookVerificationError, 'nor another message id');

  const forged = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'webhook-app' }, {
    path: '/forged',
    headers: { 'webhook-id': 'chosen', 'webhook-signature': 'v1,' + 'A'.repeat(43) + '=', 'webhook-timestamp': '1' },
  }));
  await service.waitForStatus(forged.body.id, 'completed');
  const replaced = target.requests.find((received) => received.url === '/forged')!;
  t.equal(replaced.headers['webhook-id'], forged.body.id, 'a webhook-id in the job is replaced by the job id');
  t.same(webhook.verify(replaced.body, headersOf(replaced)), { hello: 'world' }, 'and its signature by the real one');

  // A retried delivery keeps its webhook-id, so the receiver can tell it is the same message.
  const flaky = await service.post('/v1/jobs/create', restJob(target.url, { appId: 'webhook-app', retry: { baseDelaySeconds: 1 } }, { path: '/flaky' }));
  // Its retry waits 1-2 s (pg-boss's backoff with jitter) plus the lane's 0.5 s polling; 30 s is slack.
  await service.waitForStatus(flaky.body.id, 'completed', 30_000);
  const attempts = target.requests.filter((received) => received.url === '/flaky');
  t.equal(attempts.length, 2);
  t.same(attempts.map((received) => received.headers['webhook-id']), [flaky.body.id, flaky.body.id], 'both attempts carry the same webhook-id');
  t.same(attempts.map((received) => received.headers['switchyard-attempt']), ['1', '2']);
  for (const attempt of attempts) t.same(webhook.verify(attempt.body, headersOf(attempt)), { hello: 'world' }, 'and each verifies');

  const view = JSON.stringify((await service.get(`/v1/jobs/${created.body.id}`)).body);
  t.notOk(view.includes(String(delivered.headers['webhook-signature'])) || service.logs.join('\n').includes(printed!), 'no signature or derived secret in responses or logs');
});

