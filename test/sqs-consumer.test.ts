// The SQS lane as the long-running server runs it: the outbox worker and in-process long-polling
// consumers, against fauxqs and a real loopback target; then an SQS outage with mode=both.
import t from 'tap';
import { restJob, startTestService } from './helpers/service.ts';
import { startTestSqs } from './helpers/sqs.ts';
import { startTarget, startConcurrencyTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const sqs = await startTestSqs(t);
const QUEUE = 'switchyard-live.fifo';
const queueUrl = await sqs.createFifoQueue(QUEUE);
const service = await startTestService(t, {
  env: { AWS_SQS_QUEUE_URL: queueUrl, AWS_SQS_REGION: 'us-east-1', RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '2' },
});

t.test('mode=sqs and mode=both run end to end without any cron call', async (t) => {
  const target = await startTarget(() => ({ status: 200, body: 'ok' }));
  t.teardown(() => target.close());
  const viaSqs = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'sqs' }, { path: '/sqs' }));
  const viaBoth = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both' }, { path: '/both' }));
  t.equal(viaSqs.status, 202);
  t.equal(viaBoth.status, 202);
  const row = await service.waitForStatus(viaBoth.body.id, 'completed');
  t.match(row, { attempts: 1, last_response: { status: 200, body: 'ok' } });
  await waitFor(() => target.requests.length === 2, { what: 'both jobs to reach the target' });
  t.same(target.requests.map((r) => r.url).sort(), ['/both', '/sqs']);
  t.equal(await service.job(viaSqs.body.id), undefined, 'the mode=sqs job left no row');
});

t.test('consumers keep each group in order and run groups in parallel', async (t) => {
  // The target itself counts what is in flight at once, overall and per group.
  const target = await startConcurrencyTarget(200);
  t.teardown(() => target.close());
  // One mode per group: a mode=both job reaches SQS through the outbox, later than a mode=sqs job
  // created after it, so order holds among the jobs of one mode (see docs/sqs-lane.md).
  const modes: Record<string, string> = { g1: 'sqs', g2: 'both', g3: 'both' };
  const groups = Object.keys(modes);
  for (const index of [1, 2, 3, 4]) {
    for (const group of groups) {
      await service.post('/v1/jobs/create', restJob(target.url, { mode: modes[group], messageGroupId: group }, { path: `/${group}/${index}` }));
    }
  }
  await waitFor(() => target.requests.length === 12, { what: 'twelve requests', timeoutMs: 20_000 });
  for (const group of groups) {
    t.same(target.requests.filter((r) => r.url.startsWith(`/${group}/`)).map((r) => r.url), [1, 2, 3, 4].map((i) => `/${group}/${i}`), `${group} kept its order`);
  }
  t.equal(target.mostInOneGroup(), 1, 'never two jobs of one group at once');
  t.ok(target.mostAtOnce() >= 2, `jobs of different groups ran at the same time (${target.mostAtOnce()} at most)`);
});

t.test('SQS unreachable with mode=both: the job is accepted, and delivered once SQS is back', async (t) => {
  const target = await startTarget(() => ({ status: 200, body: 'late but fine' }));
  t.teardown(() => target.close());
  await sqs.stop();
  const created = await service.post('/v1/jobs/create', restJob(target.url, { mode: 'both', messageGroupId: 'outage' }));
  t.equal(created.status, 202, 'accepted while SQS is down');
  await waitFor(async () => {
    const { rows } = await service.pool.query(
      `SELECT retry_count FROM pgboss.job WHERE name = 'switchyard-sqs-outbox' AND data->>'jobId' = $1 AND state = 'retry'`,
      [created.body.id],
    );
    return rows.length === 1;
  }, { what: 'the outbox send to fail and wait to retry' });
  t.match(await service.job(created.body.id), { status: 'pending' });
  t.equal(target.requests.length, 0);

  await sqs.restart();
  t.equal(await sqs.createFifoQueue(QUEUE), queueUrl);
  const row = await service.waitForStatus(created.body.id, 'completed', 30_000);
  t.match(row, { attempts: 1, last_response: { body: 'late but fine' } });
  t.equal(target.requests.length, 1, 'delivered once');
});
