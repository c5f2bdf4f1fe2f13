// The SQS lane driven by its cron entry point (POST /internal/v1/poll-sqs), against fauxqs and a
// real loopback target. No in-process consumers run here, so each poll is the only one.
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import t from 'tap';
import { newJobId } from '../src/jobs/job-id.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { verifyAsReceiver } from './helpers/signature.ts';
import { startTestSqs } from './helpers/sqs.ts';
import { startTarget, startConcurrencyTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const sqs = await startTestSqs(t);
const QUEUE = 'switchyard-cron.fifo';
const queueUrl = await sqs.createFifoQueue(QUEUE);
const service = await startTestService(t, {
  env: {
    AWS_SQS_QUEUE_URL: queueUrl,
    AWS_SQS_REGION: 'us-east-1',
    RUN_WORKERS: 'false',
    RETRY_BASE_DELAY_SECONDS: '1',
    RETRY_MAX_DELAY_SECONDS: '2',
  },
});
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };
const poll = async (limit = 10) => {
  const response = await service.post('/internal/v1/poll-sqs', { limit }, auth);
  if (response.status !== 200) throw new Error(`poll-sqs answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
};
const runDbJobs = () => service.post('/internal/v1/run-db-jobs', { limit: 10 }, auth);
const jobCount = async () => Number((await service.pool.query('SELECT count(*) FROM jobs')).rows[0].count);
// fauxqs's own view of the queue: reading it does not count as a receive.
const readyMessages = () => sqs.server.inspectQueue(QUEUE)!.messages.ready;
const queueIsEmpty = () => {
  const { messages } = sqs.server.inspectQueue(QUEUE)!;
  return messages.ready.length + messages.inflight.length + messages.delayed.length === 0;
};

t.test('mode=sqs: the message carries the job, grouped by app, deduplicated by job id; nothing in Postgres', async (t) => {
  const target = await startTarget(() => ({ status: 200, body: 'ok' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', appId: 'shop' }));
  t.equal(created.status, 202);
  t.match(created.body, { id: /^[0-9a-f-]{36}$/, status: 'pending' });
  t.equal(await jobCount(), 0, 'nothing is written to Postgres when a mode=sqs job is accepted');

  const ready = readyMessages();
  t.equal(ready.length, 1);
  const message = ready[0]!;
  t.equal(message.messageGroupId, 'shop', 'no messageGroupId: the app id is the group');
  t.equal(message.messageDeduplicationId, created.body.id, 'no idempotencyKey: the job id deduplicates');
  const envelope = JSON.parse(message.body);
  t.match(envelope, {
    jobId: created.body.id,
    appId: 'shop',
    mode: 'sqs',
    attempt: 1,
    createdAt: String,
    messageGroupId: null,
    idempotencyKey: null,
    maxAttempts: 5,
    message: { lambdaProxyMessage: { httpMethod: 'POST', path: '/hook' }, execution: { type: 'rest-api', baseUrl: target.url } },
  });
  t.ok(Math.abs(Date.parse(envelope.createdAt) - Date.now()) < 10_000, 'createdAt is the time of creation');

  const counts = await poll();
  t.match(counts, { received: 1, completed: 1 });
  t.equal(target.requests.length, 1);
  t.equal(target.requests[0]!.headers['switchyard-job-id'], created.body.id);
  t.equal(target.requests[0]!.headers['switchyard-attempt'], '1');
  t.equal(target.requests[0]!.body.toString(), '{"hello":"world"}');
  t.equal(await jobCount(), 0, 'a completed mode=sqs job leaves nothing in Postgres');
  t.ok(queueIsEmpty(), 'the message was deleted');
});

t.test('mode=sqs: messageGroupId is the group and idempotencyKey, hashed with the app, deduplicates', async (t) => {
  const target = await startTarget(() => ({ status: 200 }));
  t.teardown(() => target.close());
  const body = restJob(target.url, { mode: 'sqs', messageGroupId: 'order-7', idempotencyKey: 'charge-7' });
  const first = await service.post('/v1/jobs/create', body);
  const second = await service.post('/v1/jobs/create', body);
  t.equal(first.status, 202);
  t.equal(second.status, 202);

  const ready = readyMessages();
  t.equal(ready.length, 1, 'SQS kept one message for the repeated key');
  t.equal(ready[0]!.messageGroupId, 'order-7');
  t.equal(ready[0]!.messageDeduplicationId, createHash('sha256').update('test-app\ncharge-7').digest('hex'), 'the key hashed with its app');

  t.match(await poll(), { received: 1, completed: 1 });
  t.match(await poll(), { received: 0 });
  t.equal(target.requests.length, 1, 'the target was called once');
  t.equal(target.requests[0]!.headers['idempotency-key'], 'charge-7');
});

t.test('mode=both: row and outbox commit together, the job runs once through SQS, its outcome lands on its row', async (t) => {
  const target = await startTarget(() => ({ status: 201, body: 'made' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both', idempotencyKey: 'both-1' }));
  t.equal(created.status, 202);
  const pending = await service.job(created.body.id);
  t.match(pending, { status: 'pending', mode: 'both', attempts: 0 });
  const outbox = await service.pool.query(`SELECT data FROM pgboss.job WHERE name = 'switchyard-sqs-outbox' AND data->>'jobId' = $1`, [created.body.id]);
  t.equal(outbox.rows.length, 1, 'the outbox entry was committed with the row');

  const again = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both', idempotencyKey: 'both-1' }));
  t.equal(again.status, 200);
  t.equal(again.body.id, created.body.id, 'a repeated key returns the first job');

  t.match(await poll(), { forwarded: 1, received: 1, completed: 1 });
  const row = await service.job(created.body.id);
  t.match(row, { status: 'completed', attempts: 1, last_error: null, last_response: { status: 201, body: 'made' } });
  t.ok(row!.completed_at instanceof Date);
  t.match(await poll(), { forwarded: 0, received: 0 });
  t.equal(target.requests.length, 1, 'the job ran once');
  t.match(await verifyAsReceiver(service.pool, 'test-app', target.url, target.requests[0]!), { ok: true }, 'signed as a DB-lane request is');
});

t.test('mode=both cancelled before it was forwarded, then pruned: its outbox entry is let go, nothing reaches SQS', async (t) => {
  const target = await startTarget(() => ({ status: 200, body: 'ok' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both' }));
  t.equal(created.status, 202);
  const id = created.body.id as string;
  t.equal((await service.post(`/v1/jobs/${id}/cancel`, {})).status, 200);
  // Past RETAIN_FAILED (30 days by default), as if the forwarder had been away all that time.
  await service.pool.query(`UPDATE jobs SET updated_at = now() - interval '31 days' WHERE id = $1`, [id]);
  const pruned = await service.pruner.run();
  t.equal(pruned.jobs.cancelled, 1, 'the cancelled job is pruned');
  t.equal(await service.job(id), undefined);
  const entry = () => service.pool.query(`SELECT state FROM pgboss.job WHERE name = 'switchyard-sqs-outbox' AND id = $1`, [id]);
  t.same((await entry()).rows, [{ state: 'created' }], 'its unsent outbox entry is not the pruner\'s to delete: only settled entries are');

  t.match(await poll(), { received: 0 }, 'the forwarder finds no row and sends nothing');
  t.same((await entry()).rows, [{ state: 'completed' }], 'the entry is settled, not retried');
  t.ok(queueIsEmpty(), 'nothing reached SQS');
  t.equal(target.requests.length, 0, 'the cancelled job never ran');
});

t.test('mode=both after a mode=sqs job with the same key: both run, SQS drops neither', async (t) => {
  const target = await startTarget(() => ({ status: 200 }));
  t.teardown(() => target.close());
  const viaSqs = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', idempotencyKey: 'shared-key' }, { path: '/sqs' }));
  const viaBoth = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both', idempotencyKey: 'shared-key' }, { path: '/both' }));
  t.same([viaSqs.status, viaBoth.status], [202, 202]);
  // One group (the app): the second message is received once the first is done.
  t.match(await poll(), { forwarded: 1, received: 1, completed: 1 });
  t.match(await poll(), { received: 1, completed: 1 });
  t.same(target.requests.map((request) => request.url), ['/sqs', '/both']);
  t.match(await service.job(viaBoth.body.id), { status: 'completed' }, 'the row accepted with 202 ran');
});

t.test('order within a group, groups in parallel', async (t) => {
  // The target itself counts what is in flight at once, overall and per group.
  const target = await startConcurrencyTarget(300);
  t.teardown(() => target.close());
  for (const index of [1, 2, 3]) {
    for (const group of ['alpha', 'beta']) {
      const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', messageGroupId: group }, { path: `/${group}/${index}` }));
      t.equal(created.status, 202);
    }
  }
  await waitFor(async () => {
    await poll();
    return target.requests.length === 6;
  }, { what: 'six requests' });
  for (const group of ['alpha', 'beta']) {
    t.same(target.requests.filter((r) => r.url.startsWith(`/${group}/`)).map((r) => r.url), [1, 2, 3].map((i) => `/${group}/${i}`), `${group} kept its order`);
  }
  t.equal(target.mostInOneGroup(), 1, 'never two jobs of one group at once');
  t.equal(target.mostAtOnce(), 2, 'the two groups ran at the same time');
  t.ok(queueIsEmpty());
});

t.test('a failed attempt goes to the DB lane with its attempts and backoff, later messages of its group follow, and it succeeds there', async (t) => {
  const target = await startTarget((request) => {
    const isFirst = request.url === '/first';
    const firstCalls = target.requests.filter((r) => r.url === '/first').length;
    return isFirst && firstCalls === 1 ? { status: 503, body: 'busy' } : { status: 200, body: 'fine' };
  });
  t.teardown(() => target.close());
  // Its own backoff, 2 s then 4 s, so the step it takes is told from the next one with room to spare.
  const first = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', messageGroupId: 'ledger', retry: { baseDelaySeconds: 2, maxDelaySeconds: 8 } }, { path: '/first' }));
  const second = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both', messageGroupId: 'ledger' }, { path: '/second' }));

  // SQS hands out the follower only once the first message is deleted, so this takes two polls.
  t.match(await poll(), { forwarded: 1, received: 1, handedOver: 1 });
  t.match(await poll(), { received: 1, handedOver: 1 });
  const failed = await service.job(first.body.id);
  t.match(failed, { mode: 'sqs', status: 'retrying', attempts: 1, last_error: 'HTTP 503', last_response: { status: 503 } });
  // The hand-over sets the first backoff step (2 s, no jitter outside pg-boss) from the moment the
  // attempt's failure is recorded: after the target got the request, and well before the next
  // step (4 s); 2 s of slack covers the answer and the record on a loaded machine.
  const waitMs = failed!.next_retry_at!.getTime() - target.requests[0]!.receivedAt;
  t.ok(waitMs >= 2_000 && waitMs < 2_000 + 2_000, `the next attempt waits the first backoff step (2 s) after the failed one: ${waitMs} ms`);
  t.match(await service.job(second.body.id), { status: 'pending', attempts: 0 }, 'the later job of the group followed into the DB lane');
  t.ok(queueIsEmpty(), 'both messages were deleted once handed over');
  t.equal(target.requests.length, 1, 'the follower did not overtake the failed job');

  await waitFor(async () => {
    await runDbJobs();
    return (await service.job(second.body.id))?.status === 'completed';
  }, { what: 'both jobs to complete in the DB lane' });
  t.match(await service.job(first.body.id), { status: 'completed', attempts: 2, last_error: null });
  t.match(await service.job(second.body.id), { status: 'completed', attempts: 1 });
  t.same(target.requests.map((r) => [r.url, r.headers['switchyard-attempt']]), [['/first', '1'], ['/first', '2'], ['/second', '1']]);
  const gap = target.requests[1]!.receivedAt - target.requests[0]!.receivedAt;
  t.ok(gap >= 2_000, `the DB lane waited the backoff before attempt 2: ${gap} ms`);
});

t.test('a job that keeps failing in the DB lane is dead-lettered after its attempts in all', async (t) => {
  const target = await startTarget(() => ({ status: 500, body: 'down' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', retry: { maxAttempts: 2, baseDelaySeconds: 1, maxDelaySeconds: 1 } }));
  t.match(await poll(), { handedOver: 1 });
  await waitFor(async () => {
    await runDbJobs();
    return (await service.job(created.body.id))?.status === 'dead_lettered';
  }, { what: 'the job to be dead-lettered' });
  t.match(await service.job(created.body.id), { attempts: 2, last_error: 'HTTP 500' });
  t.same(target.requests.map((r) => r.headers['switchyard-attempt']), ['1', '2']);
});

t.test('a 4xx from the target fails a mode=sqs job at once, recorded in Postgres', async (t) => {
  const target = await startTarget(() => ({ status: 404, body: 'gone' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs' }));
  t.match(await poll(), { received: 1, failed: 1 });
  t.match(await service.job(created.body.id), { mode: 'sqs', status: 'failed', attempts: 1, last_error: 'HTTP 404' });
  t.ok(queueIsEmpty());
});

t.test('a malformed message is recorded as failed with its raw body and deleted; the poller goes on', async (t) => {
  const target = await startTarget(() => ({ status: 200 }));
  t.teardown(() => target.close());
  const bodies = ['this is not json', JSON.stringify({ jobId: 'not-a-uuid', appId: 'x' })];
  const messageIds: string[] = [];
  for (const [index, body] of bodies.entries()) {
    const sent = await sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: 'mixed', MessageDeduplicationId: `bad-${index}` }));
    messageIds.push(sent.MessageId!);
  }
  const good = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', messageGroupId: 'mixed' }));

  await waitFor(async () => {
    await poll();
    return target.requests.length === 1;
  }, { what: 'the good message behind the bad ones to run' });
  // Its status is 'failed' by a CHECK constraint (migration 0003); what the record must get right
  // is which message it was, what it held and why it was refused.
  const { rows } = await service.pool.query('SELECT message_id, body, error, group_id FROM sqs_rejected_messages ORDER BY received_at');
  t.equal(rows.length, 2);
  t.same(rows.map((row) => row.message_id), messageIds, 'each record names the SQS message it was');
  t.same(rows.map((row) => row.body), bodies, 'the raw bodies are kept');
  t.same(rows.map((row) => row.group_id), ['mixed', 'mixed'], 'and their group');
  t.match(rows[0].error, /not JSON/);
  t.match(rows[1].error, /jobId/);
  t.equal(target.requests[0]!.headers['switchyard-job-id'], good.body.id);
  t.ok(queueIsEmpty(), 'the malformed messages were deleted');
});

t.test('delays are refused for the SQS modes, naming the field', async (t) => {
  const refused = await service.post('/v1/jobs/create', restJob('http://127.0.0.1:9', { mode: 'sqs', delaySeconds: 5 }));
  t.equal(refused.status, 400);
  t.match(refused.body, { error: 'validation_failed', fields: [{ field: 'delaySeconds' }] });
  t.ok(queueIsEmpty(), 'nothing was sent');
});

t.test('mode=sqs: two apps with the same key both run, and a key SQS would refuse as a deduplication id still works', async (t) => {
  const target = await startTarget(() => ({ status: 200 }));
  t.teardown(() => target.close());
  const key = 'order #7 (first try)';
  for (const appId of ['shop-a', 'shop-b']) {
    const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', appId, idempotencyKey: key }, { path: `/${appId}` }));
    t.equal(created.status, 202, appId);
  }
  const ready = readyMessages();
  t.equal(ready.length, 2, 'SQS kept both: the key is deduplicated within its app only');
  t.ok(ready.every((message) => /^[0-9a-f]{64}$/.test(message.messageDeduplicationId!)), 'the ids are hashes, whatever the key holds');
  await waitFor(async () => {
    await poll();
    return target.requests.length === 2;
  }, { what: 'both jobs to run' });
  t.same(target.requests.map((request) => [request.url, request.headers['idempotency-key']]).sort(), [['/shop-a', key], ['/shop-b', key]]);
});

t.test('the whole SQS message must fit 256 KiB: an oversized mode=both job is refused at create, not left in the outbox', async (t) => {
  const jobsBefore = await jobCount();
  const body = restJob('http://127.0.0.1:9', { mode: 'both', idempotencyKey: 'too-big' }, { body: 'b'.repeat(200 * 1024) });
  body.message.metadata = { notes: 'm'.repeat(100 * 1024) };
  const refused = await service.post('/v1/jobs/create', body);
  t.equal(refused.status, 400);
  t.match(refused.body.fields, [{ field: 'message', message: /SQS message of \d+ bytes; SQS takes at most 262144/ }]);
  t.equal(await jobCount(), jobsBefore, 'no row');
  const outbox = await service.pool.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'switchyard-sqs-outbox' AND state <> 'completed'`);
  t.equal(outbox.rows[0].n, 0, 'nothing waits in the outbox');
  const sqsOnly = await service.post('/v1/jobs/create', { ...body, mode: 'sqs', idempotencyKey: undefined });
  t.equal(sqsOnly.status, 400, 'mode=sqs too');
  t.ok(queueIsEmpty(), 'nothing was sent');
});

t.test('text SQS (or fauxqs) refuses raw (U+FFFE, U+FFFF, past U+FFFF) travels escaped and arrives as sent', async (t) => {
  const target = await startTarget(() => ({ status: 200 }));
  t.teardown(() => target.close());
  const text = 'noncharacters \ufffe and \uffff, and 💥';
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs' }, { body: text }));
  t.equal(created.status, 202);
  t.notMatch(readyMessages()[0]!.body, /[\ufffe\uffff\ud800-\udfff]/, 'the message body holds none of them raw');
  t.match(await poll(), { received: 1, completed: 1 });
  t.equal(target.requests[0]!.body.toString('utf8'), text);
});

t.test('a message create would refuse is rejected and recorded, never left to come back', async (t) => {
  const target = await startTarget(() => ({ status: 500 }));
  t.teardown(() => target.close());
  const envelope = (change: (message: any) => void) => {
    const message: any = { lambdaProxyMessage: { httpMethod: 'POST', path: '/hook', headers: {} }, execution: { type: 'rest-api', baseUrl: target.url }, metadata: {} };
    change(message);
    return JSON.stringify({
      jobId: newJobId(), appId: 'forged', mode: 'sqs', attempt: 1, createdAt: new Date().toISOString(), messageGroupId: null, idempotencyKey: null,
      maxAttempts: 1, retryPolicy: { baseDelaySeconds: 1, maxDelaySeconds: 1 }, message,
    });
  };
  const bodies = [
    envelope((m) => (m.metadata = { note: 'lone \ud800' })),
    envelope((m) => (m.lambdaProxyMessage.headers = { 'bad\u0000name': 'v' })),
    envelope((m) => (m.lambdaProxyMessage.headers = { 'x-a': 'a\r\nb' })),
  ];
  for (const [index, body] of bodies.entries()) {
    await sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: 'forged', MessageDeduplicationId: `forged-${index}` }));
  }
  await waitFor(async () => (await poll()).received === 0 && queueIsEmpty(), { what: 'the queue to drain' });
  const { rows } = await service.pool.query("SELECT error FROM sqs_rejected_messages WHERE group_id = 'forged' ORDER BY received_at");
  t.equal(rows.length, 3, 'each recorded as rejected');
  t.match(rows[0].error, /message\.metadata\.note: must be text PostgreSQL can store/);
  t.match(rows[1].error, /headers\.bad\\u0000name/, 'a reason quoting a NUL is stored with it escaped');
  t.match(rows[2].error, /headers\.x-a: must be an HTTP header value/);
  t.equal(target.requests.length, 0, 'none was run');
  t.equal(Number((await service.pool.query("SELECT count(*) FROM jobs WHERE app_id = 'forged'")).rows[0].count), 0);
});
