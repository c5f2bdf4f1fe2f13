// A mode=both message SQS delivers again after its job was handed to the DB lane (the poller died
// between the hand-over's commit and DeleteMessage): the DB lane owns the job from the hand-over
// on, so the redelivery is let go. It neither runs beside the DB lane's attempt nor, for a grouped
// job, stalls on handing the job over a second time. Against fauxqs, with a second poller whose
// DeleteMessage fails once, as a crash at that step would leave it.
import t from 'tap';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTestSqs } from './helpers/sqs.ts';
import { startSecondPoller } from './helpers/second-poller.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const sqs = await startTestSqs(t);
const QUEUE = 'switchyard-handover.fifo';
const queueUrl = await sqs.createFifoQueue(QUEUE);
// No workers: both lanes move only when the test calls their cron entry points.
const service = await startTestService(t, {
  env: { AWS_SQS_QUEUE_URL: queueUrl, AWS_SQS_REGION: 'us-east-1', RUN_WORKERS: 'false', RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' },
});
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };
const { crashBeforeDelete, pollerWith, staleSettles: stale } = await startSecondPoller(t, service, queueUrl);
const crashingPoller = pollerWith(crashBeforeDelete, 1);
const queueIsEmpty = () => {
  const { messages } = sqs.server.inspectQueue(QUEUE)!;
  return messages.ready.length + messages.inflight.length + messages.delayed.length === 0;
};
const runDbJobs = () => service.post('/internal/v1/run-db-jobs', { limit: 10 }, auth);
const pollUntilReceived = () => waitFor(async () => {
  const response = await service.post('/internal/v1/poll-sqs', { limit: 10 }, auth);
  return response.body.received > 0 ? response.body : undefined;
}, { what: 'the message to come back after its visibility timeout' });

t.test('a failed attempt handed over, then its message delivered again: skipped, run once by the DB lane', async (t) => {
  const target = await startTarget((_request, index) => (index === 0 ? { status: 503 } : { status: 200, delayMs: 1_500, body: 'db lane' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both' }));
  const id = created.body.id as string;
  t.match(await crashingPoller.poll(10), { received: 1, handedOver: 0 }, 'the hand-over committed, the delete failed');
  t.match(await service.job(id), { status: 'retrying', lane: 'db', attempts: 1 });

  // The DB lane's attempt 2 is running when SQS hands the message out again.
  const dbRun = waitFor(async () => (await runDbJobs()).body.completed === 1, { what: "the DB lane's attempt to run" });
  await waitFor(() => target.requests.length === 2, { what: "the DB lane's attempt to start" });
  t.match(await service.job(id), { status: 'running', attempts: 2 });
  t.match(await pollUntilReceived(), { received: 1, skipped: 1, completed: 0 });
  t.match(await service.job(id), { status: 'running', attempts: 2 }, "the redelivery did not touch the DB lane's attempt");
  await dbRun;
  const row = await service.waitForStatus(id, 'completed');
  t.match(row, { attempts: 2, last_response: { body: 'db lane' } });
  t.same(target.requests.map((request) => request.headers['switchyard-attempt']), ['1', '2'], 'each attempt ran once');
  t.ok(queueIsEmpty(), 'the redelivered message was deleted');
  t.same(stale, []);
});

t.test('a grouped job handed over, then delivered again, does not stall its group', async (t) => {
  const target = await startTarget((request) => (request.url === '/first' && request.headers['switchyard-attempt'] === '1' ? { status: 503 } : { status: 200 }));
  t.teardown(() => target.close());
  const first = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both', messageGroupId: 'handover-group' }, { path: '/first' }));
  t.match(await crashingPoller.poll(1), { received: 1 }, 'the first job failed and was handed over; its delete failed');
  const second = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both', messageGroupId: 'handover-group' }, { path: '/second' }));
  // The redelivered first message and the second job's message come through the real poller.
  await waitFor(async () => {
    await service.post('/internal/v1/poll-sqs', { limit: 10 }, auth);
    await runDbJobs();
    return (await service.job(second.body.id))!.status === 'completed' && (await service.job(first.body.id))!.status === 'completed';
  }, { timeoutMs: 20_000, what: 'both jobs to complete' });
  t.same(target.requests.map((request) => `${request.url}#${request.headers['switchyard-attempt']}`), ['/first#1', '/first#2', '/second#1'], 'in order, each once');
  t.notOk(service.logs.some((line) => /already holds a job/.test(line)), 'no hand-over was tried twice');
  t.ok(queueIsEmpty());
});
