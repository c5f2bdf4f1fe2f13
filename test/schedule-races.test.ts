// The scheduler callback against everything else that may move its job: a callback counted lost
// whose safety net runs in its place, a schedule EventBridge never delivers, and the one retry
// timing every hand-over to the DB lane shares. EventBridge Scheduler through aws-sdk-client-mock
// on the real client (no emulator exists), asserting the exact requests.
import { CreateScheduleCommand, DeleteScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import t from 'tap';
import { nominalDelaySeconds } from '../src/jobs/retry-policy.ts';
import { INVARIANT_SQL } from '../src/jobs/invariant.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const scheduler = mockClient(SchedulerClient);
t.teardown(() => scheduler.restore());
scheduler.on(CreateScheduleCommand).callsFake((input) => ({ ScheduleArn: `arn:aws:scheduler:eu-west-1:123456789012:schedule/jobs/${input.Name}` }));
scheduler.on(DeleteScheduleCommand).resolves({});
process.env.AWS_ACCESS_KEY_ID = 'AKIDSCHEDULERTEST';
process.env.AWS_SECRET_ACCESS_KEY = 'scheduler-secret';

const service = await startTestService(t, {
  env: {
    AWS_SCHEDULER_REGION: 'eu-west-1',
    AWS_SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/switchyard-scheduler',
    AWS_SCHEDULER_TARGET_ARN: 'arn:aws:lambda:eu-west-1:123456789012:function:switchyard-scheduled-message',
    AWS_SCHEDULER_GROUP_NAME: 'jobs',
    RETRY_BASE_DELAY_SECONDS: '1',
    RETRY_MAX_DELAY_SECONDS: '8',
  },
});
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };
const scheduleJob = (targetUrl: string, extra: Record<string, unknown> = {}) => {
  const body = restJob(targetUrl, extra);
  return { ...body, message: { ...body.message, execution: { type: 'schedule', delaySeconds: 600, targetExecution: body.message.execution } } };
};
const deliver = (jobId: string) => service.post('/internal/v1/process-scheduled-message', { jobId }, auth);
const history = async (id: string) => (await service.pool.query('SELECT attempt, lane, outcome FROM job_attempts WHERE job_id = $1 ORDER BY id', [id])).rows;

t.beforeEach(() => scheduler.resetHistory());

t.test('a callback counted lost changes nothing once its safety net runs in its place', async (t) => {
  let netClaimed!: () => void;
  const netRunning = new Promise<void>((resolve) => { netClaimed = resolve; });
  let finishNet!: () => void;
  const netFinishes = new Promise<void>((resolve) => { finishNet = resolve; });
  const target = await startTarget(async (request) => {
    if (request.headers['switchyard-attempt'] === '1') {
      // The callback's attempt outlives its claim: the net starts while it still runs.
      await netRunning;
      return { status: 200, body: 'first' };
    }
    netClaimed();
    await netFinishes;
    return { status: 200, body: 'second' };
  });
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', scheduleJob(target.url));
  const id = created.body.id as string;
  const callback = deliver(id);
  await waitFor(() => target.requests.length === 1, { what: 'the callback to call the target' });
  // As if the callback had been counted lost: its safety net comes due now.
  await service.pool.query(`UPDATE pgboss.job SET start_after = now() WHERE id = $1`, [id]);
  const answer = await callback;
  t.equal(target.requests.length, 2, 'the net ran the job while the callback still ran');
  t.same(answer.body, { jobId: id, ran: true, status: 'running' }, 'the callback says what the job is now, not what it made of it');
  const net = (await service.pool.query(`SELECT state FROM pgboss.job WHERE id = $1`, [id])).rows[0];
  t.equal(net?.state, 'active', "the callback left the net's attempt alone");
  t.match(await service.job(id), { status: 'running', attempts: 2 });
  finishNet();
  const row = await service.waitForStatus(id, 'completed');
  t.match(row, { attempts: 2, last_response: { body: 'second' } }, "the net's outcome is the one recorded");
  t.match(await history(id), [{ attempt: 1, lane: 'scheduler', outcome: 'lost' }], "attempt 1 is recorded lost (by attempt 2's claim), attempt 2 from the row");
  t.ok(service.logs.some((line) => line.includes('scheduler lane matched no running attempt')), 'the late outcome is logged');
  t.same((await service.pool.query(INVARIANT_SQL)).rows, []);
});

t.test('a schedule EventBridge never delivers is run by the DB lane once it is overdue', async (t) => {
  const target = await startTarget(() => ({ status: 200, body: 'ran anyway' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', scheduleJob(target.url));
  const id = created.body.id as string;
  t.match(await service.job(id), { status: 'scheduled', lane: 'scheduler' });
  t.equal((await service.jobs.reconciler.run()).found, 0, 'an armed schedule is live');
  // Its time came 20 minutes ago and no delivery arrived.
  await service.pool.query(`UPDATE jobs SET run_at = now() - interval '20 minutes' WHERE id = $1`, [id]);
  t.match(await service.jobs.reconciler.run(), { ran: true, found: 1, repaired: 1 });
  const row = await service.waitForStatus(id, 'completed');
  t.equal(row.lane, 'db');
  t.equal(target.requests.length, 1);
  t.same(scheduler.commandCalls(DeleteScheduleCommand).map((call) => call.args[0].input), [{ Name: `switchyard-${id}`, GroupName: 'jobs' }], 'its schedule is deleted');
  const late = await deliver(id);
  t.same(late.body, { jobId: id, ran: false, status: 'completed' }, 'a late delivery after all runs nothing');
  t.equal(target.requests.length, 1);
});

t.test('cancel and dead-letter delete the EventBridge schedule', async (t) => {
  for (const action of ['cancel', 'deadletter']) {
    scheduler.resetHistory();
    const created = await service.post('/v1/jobs/create', scheduleJob('http://127.0.0.1:9'));
    const id = created.body.id as string;
    t.equal((await service.post(`/v1/jobs/${id}/${action}`, {})).status, 200);
    t.same(scheduler.commandCalls(DeleteScheduleCommand).map((call) => call.args[0].input), [{ Name: `switchyard-${id}`, GroupName: 'jobs' }], action);
    t.same((await deliver(id)).body, { jobId: id, ran: false, status: action === 'cancel' ? 'cancelled' : 'dead_lettered' });
  }
});

t.test('after the callback fails, the DB lane retries on the same timing as after an SQS attempt', async (t) => {
  const target = await startTarget(() => ({ status: 503 }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', scheduleJob(target.url, { retry: { maxAttempts: 5, baseDelaySeconds: 2, maxDelaySeconds: 60 } }));
  const id = created.body.id as string;
  const before = Date.now();
  t.match((await deliver(id)).body, { ran: true, status: 'retrying' });
  const { rows: [lane] } = await service.pool.query(`SELECT state, start_after, retry_delay, retry_limit, data FROM pgboss.job WHERE id = $1`, [id]);
  const policy = { maxAttempts: 5, baseDelaySeconds: 2, maxDelaySeconds: 60 };
  // After attempt 1: the first DB-lane run waits attempt 1's backoff (2 s); pg-boss's own backoff
  // then starts from the wait after attempt 2 (4 s), so the doubling goes on where it was.
  t.match(lane, { state: 'retry', retry_delay: nominalDelaySeconds(policy, 2), retry_limit: 4, data: { attemptOffset: 1 } });
  const waits = (lane.start_after.getTime() - before) / 1000;
  t.ok(waits >= 1.9 && waits < 2 + 2, `the first run waits about attempt 1's backoff (2 s, started within 2 s): ${waits} s`);
  await service.post(`/v1/jobs/${id}/cancel`, {});
});
