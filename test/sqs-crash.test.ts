// Crash points of the SQS poller, against fauxqs: a poller that dies between recording an outcome
// and deleting the message, and a job that runs longer than the visibility timeout.
import t from 'tap';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTestSqs } from './helpers/sqs.ts';
import { startSecondPoller } from './helpers/second-poller.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const sqs = await startTestSqs(t);
const QUEUE = 'switchyard-crash.fifo';
const queueUrl = await sqs.createFifoQueue(QUEUE);
const service = await startTestService(t, {
  env: { AWS_SQS_QUEUE_URL: queueUrl, AWS_SQS_REGION: 'us-east-1', RUN_WORKERS: 'false' },
});
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };
// A second poller over the same database and queue, as another process would run it, with a short
// visibility timeout and a lane the test can break at one step.
const { realLane, pollerWith, crashBeforeDelete, logs } = await startSecondPoller(t, service, queueUrl);
const inflight = () => sqs.server.inspectQueue(QUEUE)!.messages.inflight;
const messagesInQueue = () => {
  const { messages } = sqs.server.inspectQueue(QUEUE)!;
  return messages.ready.length + messages.inflight.length + messages.delayed.length;
};
const queueIsEmpty = () => messagesInQueue() === 0;

t.test('a crash between recording the outcome and deleting: the message comes back and the record shows one completion', async (t) => {
  const target = await startTarget(() => ({ status: 200, body: 'done' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both' }));
  t.equal(created.status, 202);

  const first = await pollerWith(crashBeforeDelete, 1).poll(10);
  t.match(first, { forwarded: 1, received: 1, completed: 0 });
  t.match(logs.at(-1), /left for redelivery: simulated crash before DeleteMessage/);
  t.match(await service.job(created.body.id), { status: 'completed', attempts: 1 }, 'the outcome was recorded before the crash');
  // In flight or, its 1 s visibility already out on a slow machine, visible again: either way still there.
  t.equal(messagesInQueue(), 1, 'the message was not deleted');

  const again = await waitFor(async () => {
    const response = await service.post('/internal/v1/poll-sqs', { limit: 10 }, auth);
    return response.body.received > 0 ? response.body : undefined;
  }, { what: 'the message to come back after its visibility timeout' });
  t.match(again, { received: 1, skipped: 1, completed: 0 });
  const row = await service.job(created.body.id);
  t.match(row, { status: 'completed', attempts: 1, last_response: { body: 'done' } }, 'one completion on record');
  t.equal(target.requests.length, 1, 'the job was not run again');
  t.ok(queueIsEmpty(), 'the redelivered message was deleted');
});

t.test('visibility is extended while a job runs longer than the timeout; no other poller gets it', async (t) => {
  // The job runs until the test has seen its first visibility timeout pass.
  let finish!: () => void;
  const finishing = new Promise<void>((resolve) => { finish = resolve; });
  const target = await startTarget(async () => {
    await finishing;
    return { status: 200 };
  });
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs', messageGroupId: 'slow' }));
  t.equal(created.status, 202);

  // The poller extends the visibility every half timeout: with 4 s, each extension has 2 s to land
  // before the message would show again.
  const running = pollerWith(realLane, 4).poll(10);
  await waitFor(() => target.requests.length === 1, { what: 'the job to start' });
  const firstDeadline = inflight()[0]!.visibilityDeadline;
  // Past the first deadline, the message would be visible again had nobody extended it.
  await waitFor(() => Date.now() > firstDeadline + 200 && (inflight()[0]?.visibilityDeadline ?? 0) > Date.now(), { what: 'the first visibility timeout to pass with the message still in flight' });
  t.equal(target.requests.length, 1, 'the job is still running');
  const meanwhile = await service.post('/internal/v1/poll-sqs', { limit: 10 }, auth);
  t.match(meanwhile.body, { received: 0 }, 'another poller received nothing while the job ran');
  finish();

  t.match(await running, { received: 1, completed: 1 });
  t.equal(target.requests.length, 1, 'the job ran once');
  t.ok(queueIsEmpty());
});
