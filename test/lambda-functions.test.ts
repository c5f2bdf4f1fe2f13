// Every Lambda function of serverless.yml, bundled as `npm run package` bundles it, under
// serverless-offline: migrate, poll-sqs, run-db-jobs, scheduled-message and sqs-consumer invoked
// through the local Lambda Invoke API with the AWS SDK, api called over HTTP. The offline stage runs
// no cron, so a DB-lane job created through api that runs at all was started by api's wake.
import { ChangeMessageVisibilityCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import t from 'tap';
import { startSwitchyardOffline } from './helpers/offline-stack.ts';
import { startSchedulerEndpoint } from './helpers/scheduler-endpoint.ts';
import { restJob } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

// run-db-jobs gets 8 s here, so a job that hangs sees its attempt abandoned at 6 s (8 s less the
// 2 s settle reserve) rather than after the two minutes a deployed stage gives it.
const RUN_DB_JOBS_TIMEOUT_S = 8;
const POLL_SQS_TIMEOUT_S = 6;
const scheduler = await startSchedulerEndpoint();
t.teardown(() => scheduler.close());
const SCHEDULED_MESSAGE_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:switchyard-offline-scheduled-message';
const sy = await startSwitchyardOffline(t, {
  env: {
    SWITCHYARD_OFFLINE_RUN_DB_JOBS_TIMEOUT: String(RUN_DB_JOBS_TIMEOUT_S),
    SWITCHYARD_OFFLINE_POLL_SQS_TIMEOUT: String(POLL_SQS_TIMEOUT_S),
    // A container prunes at most every second, so a test need not wait out a container's minute.
    SWITCHYARD_OFFLINE_PRUNE_INTERVAL_SECONDS: '1',
    AWS_ENDPOINT_URL_SCHEDULER: scheduler.url,
    AWS_SCHEDULER_ROLE_ARN: 'arn:aws:iam::000000000000:role/switchyard-offline-scheduler',
    AWS_SCHEDULER_TARGET_ARN: SCHEDULED_MESSAGE_ARN,
  },
});
const target = await startTarget((request) => {
  if (request.url.startsWith('/hang')) return { status: 200, delayMs: 120_000 };
  if (request.url.startsWith('/refuse')) return { status: 500, body: 'try later' };
  return { status: 200, body: 'ok' };
});
t.teardown(() => target.close());
const requestsTo = (path: string) => target.requests.filter((request) => request.url === path);
const jobRow = async (id: string) => (await sy.db.query('SELECT * FROM jobs WHERE id = $1', [id])).rows[0];

t.test('migrate applies every migration once; a second invocation has nothing to do', async (t) => {
  const first = await sy.invoke('migrate');
  t.equal(first.functionError, undefined, JSON.stringify(first.payload));
  t.ok(first.payload.applied.includes('0001_jobs'));
  const { rows } = await sy.db.query('SELECT name FROM switchyard_migrations ORDER BY name');
  t.same(first.payload.applied, rows.map((row: { name: string }) => row.name));
  const { rows: queues } = await sy.db.query(`SELECT name FROM pgboss.queue ORDER BY name`);
  t.same(queues.map((queue: { name: string }) => queue.name), ['switchyard-jobs', 'switchyard-jobs-ordered', 'switchyard-sqs-outbox']);
  const again = await sy.invoke('migrate');
  t.same(again.payload, { applied: [] });
});

t.test('api answers over HTTP; a DB-lane job it creates starts within about a second, woken, not on a cron tick', async (t) => {
  t.same((await sy.get('/healthz')).body, { status: 'ok' });
  t.equal((await sy.post('/v1/jobs/create', { appId: 'x' })).status, 400);
  const latencies: number[] = [];
  const JOBS = 20;
  for (let i = 0; i < JOBS; i++) {
    const path = `/latency/${i}`;
    const createdAt = Date.now();
    const created = await sy.post('/v1/jobs/create', restJob(target.url, {}, { path }));
    t.equal(created.status, 202, `job ${i} created`);
    // The wake's own bound is one cold start of run-db-jobs; 30 s leaves room for a loaded machine.
    const [received] = await waitFor(() => requestsTo(path).length > 0 && requestsTo(path), { timeoutMs: 30_000, what: `job ${i} to reach its target` });
    latencies.push(received!.receivedAt - createdAt);
    await waitFor(async () => (await jobRow(created.body.id))?.status === 'completed', { what: `job ${i} to be completed` });
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(JOBS / 2)]!;
  t.comment(`create -> target under serverless-offline: first (cold run-db-jobs) ${latencies[0]} ms, p50 ${p50} ms, p90 ${sorted[Math.floor(JOBS * 0.9)]} ms, max ${sorted.at(-1)} ms`);
  // "Within about a second": the bound, with a second of slack for a loaded 2-core machine.
  // The cron alternative would be minutes.
  t.ok(p50 < 2_000, `p50 ${p50} ms`);
});

t.test('run-db-jobs drains due jobs when invoked, and answers what it ran', async (t) => {
  const created = await sy.post('/v1/jobs/create', { ...restJob(target.url, {}, { path: '/delayed' }), delaySeconds: 1 });
  t.equal(created.status, 202);
  // A delayed job earns no wake: it is not ready yet. It runs when run-db-jobs finds it due.
  const result = await waitFor(async () => {
    const invoked = await sy.invoke('run-db-jobs');
    if (invoked.functionError) throw new Error(JSON.stringify(invoked.payload));
    return invoked.payload.completed > 0 && invoked.payload;
  }, { timeoutMs: 20_000, intervalMs: 250, what: 'run-db-jobs to run the delayed job' });
  t.equal(result.claimed, 1);
  t.equal((await jobRow(created.body.id)).status, 'completed');
  t.equal(requestsTo('/delayed').length, 1);
});

t.test('run-db-jobs prunes finished jobs past their retention on its cron run', async (t) => {
  const created = await sy.post('/v1/jobs/create', restJob(target.url, {}, { path: '/to-prune' }));
  t.equal(created.status, 202);
  const id = created.body.id as string;
  await waitFor(async () => (await jobRow(id))?.status === 'completed', { what: 'the job to complete' });
  // Completed eight days ago: past the stage's RETAIN_COMPLETED (7d).
  await sy.db.query(`UPDATE jobs SET updated_at = now() - interval '8 days' WHERE id = $1`, [id]);
  // A container that pruned within the last second skips it: invoke until a run has pruned.
  const result = await waitFor(async () => {
    const invoked = await sy.invoke('run-db-jobs');
    if (invoked.functionError) throw new Error(JSON.stringify(invoked.payload));
    return invoked.payload.pruned > 0 && invoked.payload;
  }, { timeoutMs: 20_000, intervalMs: 250, what: 'a run-db-jobs run to prune' });
  t.equal(result.pruned, 1, 'the run answers what it pruned');
  t.equal(await jobRow(id), undefined, 'the expired job is gone');
  t.equal((await sy.db.query('SELECT 1 FROM pgboss.job WHERE id = $1', [id])).rowCount, 0, 'and so is its lane job');
});

t.test('a job still running near the deadline is abandoned and recorded before the function ends', async (t) => {
  const created = await sy.post('/v1/jobs/create', restJob(target.url, { execution: { timeoutMs: 60_000 } }, { path: '/hang' }));
  t.equal(created.status, 202);
  // Abandoned at 6 s into the woken run-db-jobs; 20 s covers its cold start and the recording on a busy machine.
  const row = await waitFor(async () => {
    const current = await jobRow(created.body.id);
    return current?.status === 'retrying' && current;
  }, { timeoutMs: 20_000, what: 'the hanging job to be recorded as retrying' });
  t.match(row.last_error, /abandoned/);
  t.equal(row.attempts, 1);
  // Claimed as the function began, recorded when the window closed: after most of the function's
  // time (6 s less its start-up), and before its deadline.
  const ranMs = row.updated_at.getTime() - row.started_at.getTime();
  t.ok(ranMs > 3_000 && ranMs < RUN_DB_JOBS_TIMEOUT_S * 1000, `abandoned and recorded ${ranMs} ms after the claim`);
  // An abandoned attempt runs again at once: the next wake would run this job, which can never
  // finish inside the function's time, in every test after this one.
  t.equal((await sy.post(`/v1/jobs/${created.body.id}/cancel`, {})).status, 200);
  t.notMatch(sy.stack.output(), /Lambda timeout/, 'no function ran into its timeout (serverless-offline says "[504] - Lambda timeout.")');
});

t.test('scheduled-message runs what a schedule delivers once, however often it is delivered', async (t) => {
  const created = await sy.post('/v1/jobs/create', {
    ...restJob(target.url),
    message: { ...restJob(target.url).message, execution: { type: 'schedule', delaySeconds: 3600, targetExecution: { type: 'rest-api', baseUrl: `${target.url}/scheduled` } } },
  });
  t.equal(created.status, 202, JSON.stringify(created.body));
  t.equal(created.body.status, 'scheduled');
  // What api asked of EventBridge Scheduler, and what EventBridge would deliver to its target.
  const schedule = scheduler.requests().find((request) => request.method === 'POST');
  t.equal(schedule?.body.Target.Arn, SCHEDULED_MESSAGE_ARN);
  const input = JSON.parse(schedule!.body.Target.Input);
  t.equal(input.jobId, created.body.id);
  const first = await sy.invoke('scheduled-message', input);
  t.same(first.payload, { jobId: created.body.id, ran: true, status: 'completed' });
  const second = await sy.invoke('scheduled-message', input);
  t.same(second.payload, { jobId: created.body.id, ran: false, status: 'completed' });
  t.equal(requestsTo('/scheduled/hook').length, 1, 'the target ran once');
  t.ok(scheduler.requests().some((request) => request.method === 'DELETE' && request.name === schedule!.name), 'the schedule was deleted');
});

t.test('poll-sqs runs what the queue holds and returns before its deadline; api\'s wake forwards mode=both', async (t) => {
  const sqsJob = await sy.post('/v1/jobs/create', { ...restJob(target.url, {}, { path: '/polled' }), mode: 'sqs' });
  const bothJob = await sy.post('/v1/jobs/create', { ...restJob(target.url, {}, { path: '/polled-both' }), mode: 'both' });
  t.equal(sqsJob.status, 202, JSON.stringify(sqsJob.body));
  t.equal(bothJob.status, 202, JSON.stringify(bothJob.body));
  // mode=both waits in the outbox until run-db-jobs, woken by api (no cron runs here), sends it to SQS.
  await waitFor(() => sy.sqs.server.inspectQueue('switchyard-offline-jobs-main.fifo')!.messages.ready.length === 2, { what: 'both messages in the queue' });
  const polled = await sy.invoke('poll-sqs');
  t.equal(polled.functionError, undefined, JSON.stringify(polled.payload));
  t.equal(polled.payload.received, 2);
  t.equal(polled.payload.completed, 2);
  t.ok(polled.payload.rounds >= 1);
  t.ok(polled.ms < POLL_SQS_TIMEOUT_S * 1000, `returned after ${polled.ms} ms, within its ${POLL_SQS_TIMEOUT_S} s timeout`);
  t.equal(requestsTo('/polled').length, 1);
  t.equal(requestsTo('/polled-both').length, 1);
  t.equal((await jobRow(bothJob.body.id)).status, 'completed');
});

/** An SQS event record as the event source mapping builds it from a received message. */
function recordOf(message: { MessageId?: string; ReceiptHandle?: string; Body?: string; MD5OfBody?: string; Attributes?: Record<string, string> }) {
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body!,
    attributes: message.Attributes as any,
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:switchyard-offline-jobs-main.fifo',
    awsRegion: 'us-east-1',
  };
}

async function receive(count: number): Promise<Message[]> {
  const messages: Message[] = [];
  await waitFor(async () => {
    const { Messages = [] } = await sy.sqs.client.send(new ReceiveMessageCommand({
      QueueUrl: sy.queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300, MessageSystemAttributeNames: ['All'],
    }));
    messages.push(...Messages);
    return messages.length >= count;
  }, { what: `${count} messages from the queue` });
  return messages;
}

const jobIdOf = (message: { Body?: string }) => JSON.parse(message.Body!).jobId as string;

t.test('sqs-consumer runs an SQS event batch and reports back only the item it could not settle, with the rest of its group', async (t) => {
  // The database refuses to record one app's jobs: that message cannot be settled.
  await sy.db.query(`
    CREATE FUNCTION refuse_app() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$;
    CREATE TRIGGER refuse_app BEFORE INSERT ON jobs FOR EACH ROW WHEN (NEW.app_id = 'refused-app') EXECUTE FUNCTION refuse_app();
  `);
  const send = (appId: string, path: string, group: string) => sy.post('/v1/jobs/create', { ...restJob(target.url, {}, { path }), appId, mode: 'sqs', messageGroupId: group });
  const refused = await send('refused-app', '/refuse', 'group-a');
  const behind = await send('test-app', '/after-refused', 'group-a');
  const other = await send('test-app', '/other-group', 'group-b');
  for (const created of [refused, behind, other]) t.equal(created.status, 202, JSON.stringify(created.body));

  // SQS may hand the event source mapping several messages of one group in a batch; fauxqs hands out
  // one per group per receive, so the message behind in group-a is taken as it waits in the queue (its
  // receipt handle is never used: the consumer must not start it).
  const received = await receive(2);
  const waiting = sy.sqs.server.inspectQueue('switchyard-offline-jobs-main.fifo')!.messages.ready
    .map((message: any) => ({ MessageId: message.messageId, ReceiptHandle: 'never-received', Body: message.body, Attributes: { ...message.attributes, MessageGroupId: 'group-a', ApproximateReceiveCount: '1' } }));
  const byJob = new Map([...received, ...waiting].map((message) => [jobIdOf(message), message]));
  t.ok(byJob.has(behind.body.id), 'the message behind is in the batch');
  const batch = [refused, behind, other].map((created) => byJob.get(created.body.id)!);
  const event: SQSEvent = { Records: batch.map(recordOf) };

  const consumed = await sy.invoke('sqs-consumer', event);
  t.equal(consumed.functionError, undefined, JSON.stringify(consumed.payload));
  t.same(
    consumed.payload.batchItemFailures.map((failure: { itemIdentifier: string }) => failure.itemIdentifier),
    [byJob.get(refused.body.id)!.MessageId, byJob.get(behind.body.id)!.MessageId],
    'the refused message and the one behind it in its group come back; the other group\'s is done',
  );
  t.equal(requestsTo('/other-group').length, 1);
  t.equal(requestsTo('/after-refused').length, 0, 'a later message of the group does not overtake the one left');
  const inspected = sy.sqs.server.inspectQueue('switchyard-offline-jobs-main.fifo')!.messages;
  t.equal(inspected.inflight.length + inspected.ready.length, 2, 'the settled message was deleted; the two reported ones remain');

  // SQS delivers the refused message again once its visibility ends; with the database willing, it settles.
  await sy.db.query('DROP TRIGGER refuse_app ON jobs');
  await sy.sqs.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: sy.queueUrl, ReceiptHandle: byJob.get(refused.body.id)!.ReceiptHandle!, VisibilityTimeout: 0 }));
  for (const jobId of [refused.body.id, behind.body.id]) {
    const [message] = await receive(1);
    t.equal(jobIdOf(message!), jobId, 'group-a comes back in order');
    const redelivered = await sy.invoke('sqs-consumer', { Records: [recordOf(message!)] });
    t.same(redelivered.payload, { batchItemFailures: [] });
  }
  // The refused job failed its attempt and went on in the DB lane; the one behind followed its group there.
  t.equal((await jobRow(refused.body.id)).status, 'retrying');
  t.equal((await jobRow(behind.body.id)).status, 'pending');
  t.equal(requestsTo('/after-refused').length, 0, 'it waits behind the retrying job of its group');
});
