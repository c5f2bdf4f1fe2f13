// schedule through EventBridge Scheduler (aws-sdk-client-mock on the real client, asserting the exact
// requests) and the scheduled-message callback, over HTTP and as the Lambda handler.
import { CreateScheduleCommand, DeleteScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import t from 'tap';
import { createScheduledMessageHandler } from '../src/handlers/scheduled-message.ts';
import { claimWithSafetyNet } from '../src/scheduling/scheduled-messages.ts';
import { DbLane } from '../src/lanes/db-lane.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { verifyAsReceiver } from './helpers/signature.ts';
import { startTarget } from './helpers/target.ts';

const scheduler = mockClient(SchedulerClient);
t.teardown(() => scheduler.restore());
const arnOf = (name: string) => `arn:aws:scheduler:eu-west-1:123456789012:schedule/switchyard-jobs/${name}`;
scheduler.on(CreateScheduleCommand).callsFake((input) => ({ ScheduleArn: arnOf(input.Name) }));
scheduler.on(DeleteScheduleCommand).resolves({});

const TARGET_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:switchyard-scheduled-message';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/switchyard-scheduler';
process.env.AWS_ACCESS_KEY_ID = 'AKIDSCHEDULERTEST';
process.env.AWS_SECRET_ACCESS_KEY = 'scheduler-secret';

const service = await startTestService(t, {
  env: {
    AWS_SCHEDULER_REGION: 'eu-west-1',
    AWS_SCHEDULER_ROLE_ARN: ROLE_ARN,
    AWS_SCHEDULER_TARGET_ARN: TARGET_ARN,
    AWS_SCHEDULER_GROUP_NAME: 'switchyard-jobs',
    RETRY_BASE_DELAY_SECONDS: '1',
    RETRY_MAX_DELAY_SECONDS: '1',
    // Short, so that the safety net's start (timeout + 10 s + 30 s) is quick to check, and the
    // lost-attempt sweep counts a dead callback lost 1 s + 15 s after its claim.
    DEFAULT_TIMEOUT_MS: '1000',
  },
});
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };

function scheduleJob(targetUrl: string, schedule: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const body = restJob(targetUrl, extra);
  return { ...body, message: { ...body.message, execution: { type: 'schedule', ...schedule, targetExecution: body.message.execution } } };
}

/** The Input the job's schedule would deliver, as EventBridge Scheduler passes it on. */
function deliveredInput(jobId: string): unknown {
  const call = scheduler.commandCalls(CreateScheduleCommand).find((c) => c.args[0].input.Name === `switchyard-${jobId}`);
  return JSON.parse(call!.args[0].input.Target!.Input!);
}

t.beforeEach(() => scheduler.resetHistory());

t.test('a schedule job creates one exact one-time schedule and shows scheduled with its ARN', async (t) => {
  const target = await startTarget();
  t.teardown(() => target.close());
  const at = new Date(Date.now() + 3_600_000 + 400);
  const created = await service.post('/v1/jobs/create', scheduleJob(target.url, { at: at.toISOString() }));
  t.equal(created.status, 202);
  t.equal(created.body.status, 'scheduled');
  const id = created.body.id;
  const whole = new Date(Math.ceil(at.getTime() / 1000) * 1000).toISOString().slice(0, 19);
  t.same(scheduler.commandCalls(CreateScheduleCommand).map((call) => call.args[0].input), [{
    Name: `switchyard-${id}`,
    GroupName: 'switchyard-jobs',
    ScheduleExpression: `at(${whole})`,
    ScheduleExpressionTimezone: 'UTC',
    FlexibleTimeWindow: { Mode: 'OFF' },
    ActionAfterCompletion: 'DELETE',
    Target: {
      Arn: TARGET_ARN,
      RoleArn: ROLE_ARN,
      Input: JSON.stringify({ jobId: id, targetExecution: { type: 'rest-api', baseUrl: target.url } }),
    },
  }]);
  const row = await service.job(id);
  t.equal(row!.status, 'scheduled');
  t.equal(row!.schedule_arn, arnOf(`switchyard-${id}`));
  t.equal(row!.run_at!.toISOString().slice(0, 19), whole, 'rounded up to the whole second');
  const { rows } = await service.pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE id = $1", [id]);
  t.equal(rows[0].n, 0, 'the DB lane holds nothing until the schedule fires');
  t.equal(target.requests.length, 0);
});

t.test('the callback, delivered twice, runs the job once, records it and deletes the schedule', async (t) => {
  const target = await startTarget(() => ({ status: 201, body: 'done' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', scheduleJob(target.url, { delaySeconds: 3600 }, { idempotencyKey: 'sched-1' }));
  const input = deliveredInput(created.body.id);

  const unauthenticated = await service.post('/internal/v1/process-scheduled-message', input);
  t.equal(unauthenticated.status, 401);
  const [first, second] = await Promise.all([
    service.post('/internal/v1/process-scheduled-message', input, auth),
    service.post('/internal/v1/process-scheduled-message', input, auth),
  ]);
  t.same([first!.status, second!.status], [200, 200]);
  t.same([first!.body.ran, second!.body.ran].sort(), [false, true], 'exactly one delivery ran the job');
  const third = await service.post('/internal/v1/process-scheduled-message', input, auth);
  t.same(third.body, { jobId: created.body.id, ran: false, status: 'completed' });
  const { rows: [lane] } = await service.pool.query('SELECT count(*)::int AS n FROM pgboss.job WHERE id = $1', [created.body.id]);
  t.equal(lane.n, 0, 'the safety net is removed with the outcome');

  t.equal(target.requests.length, 1);
  t.equal(target.requests[0]!.headers['idempotency-key'], 'sched-1');
  t.equal(target.requests[0]!.headers['switchyard-attempt'], '1');
  t.match(await verifyAsReceiver(service.pool, 'test-app', target.url, target.requests[0]!), { ok: true }, 'signed with the app secret');
  const row = await service.job(created.body.id);
  t.equal(row!.status, 'completed');
  t.equal(row!.attempts, 1);
  t.match(row!.last_response, { status: 201, body: 'done' });
  const deletes = scheduler.commandCalls(DeleteScheduleCommand).map((call) => call.args[0].input);
  t.ok(deletes.length >= 1);
  for (const input of deletes) t.same(input, { Name: `switchyard-${created.body.id}`, GroupName: 'switchyard-jobs' });
});

t.test('a failing scheduled job is handed to the DB lane and retried there', async (t) => {
  const target = await startTarget((_request, index) => (index === 0 ? { status: 503, body: 'busy' } : { status: 200, body: 'ok' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', scheduleJob(target.url, { delaySeconds: 60 }, { retry: { maxAttempts: 3, baseDelaySeconds: 1, maxDelaySeconds: 1 } }));
  const result = await service.post('/internal/v1/process-scheduled-message', deliveredInput(created.body.id), auth);
  t.same(result.body, { jobId: created.body.id, ran: true, status: 'retrying' });
  const retrying = await service.job(created.body.id);
  t.equal(retrying!.last_error, 'HTTP 503');
  t.equal(retrying!.attempts, 1);
  t.ok(retrying!.next_retry_at instanceof Date);

  const row = await service.waitForStatus(created.body.id, 'completed');
  t.equal(row.attempts, 2, 'the lane counts on from the callback attempt');
  t.same(target.requests.map((r) => r.headers['switchyard-attempt']), ['1', '2']);
});

t.test('the scheduled-message Lambda handler runs the same callback', async (t) => {
  const target = await startTarget();
  t.teardown(() => target.close());
  const handler = createScheduledMessageHandler(async () => service.scheduledMessages);
  const created = await service.post('/v1/jobs/create', scheduleJob(target.url, { delaySeconds: 600 }));
  const input = deliveredInput(created.body.id);
  t.same(await handler(input), { jobId: created.body.id, ran: true, status: 'completed' });
  t.same(await handler(JSON.stringify(input)), { jobId: created.body.id, ran: false, status: 'completed' });
  t.equal(target.requests.length, 1);
  t.same(await handler({ jobId: '0190f3c2-7c1e-7000-8000-0000000000ff' }), { jobId: '0190f3c2-7c1e-7000-8000-0000000000ff', ran: false, status: 'not_found' });
  await t.rejects(handler({ jobId: 'not-a-uuid' }), { name: 'ValidationError' });
});

t.test('a time in the past or too far ahead is a 400 naming the field, and nothing is stored or scheduled', async (t) => {
  const { rows: [before] } = await service.pool.query('SELECT count(*)::int AS n FROM jobs');
  const cases: [Record<string, unknown>, string][] = [
    [{ at: new Date(Date.now() - 60_000).toISOString() }, 'message.execution.at'],
    [{ delaySeconds: 0 }, 'message.execution.delaySeconds'],
    [{ at: new Date(Date.now() + 2 * 365 * 86_400_000).toISOString() }, 'message.execution.at'],
    [{}, 'message.execution.at'],
  ];
  for (const [schedule, field] of cases) {
    const response = await service.post('/v1/jobs/create', scheduleJob('http://127.0.0.1:9', schedule));
    t.equal(response.status, 400, JSON.stringify(schedule));
    t.equal(response.body.fields[0].field, field);
  }
  const misplaced = await service.post('/v1/jobs/create', scheduleJob('http://127.0.0.1:9', { delaySeconds: 10 }, { delaySeconds: 5 }));
  t.equal(misplaced.status, 400);
  t.equal(misplaced.body.fields[0].field, 'delaySeconds');
  const { rows: [after] } = await service.pool.query('SELECT count(*)::int AS n FROM jobs');
  t.equal(after.n, before.n);
  t.equal(scheduler.commandCalls(CreateScheduleCommand).length, 0);
});

t.test('when CreateSchedule fails, the create fails and no job is stored', async (t) => {
  scheduler.on(CreateScheduleCommand).rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
  t.teardown(() => {
    scheduler.on(CreateScheduleCommand).callsFake((input) => ({ ScheduleArn: arnOf(input.Name) }));
  });
  const { rows: [before] } = await service.pool.query('SELECT count(*)::int AS n FROM jobs');
  const response = await service.post('/v1/jobs/create', scheduleJob('http://127.0.0.1:9', { delaySeconds: 60 }));
  t.equal(response.status, 500);
  const { rows: [after] } = await service.pool.query('SELECT count(*)::int AS n FROM jobs');
  t.equal(after.n, before.n);
});

t.test('a callback that dies after its claim leaves a DB-lane job that will run the job in its place', async (t) => {
  const target = await startTarget(() => ({ status: 200, body: 'ran by the net' }));
  t.teardown(() => target.close());
  const created = await service.post('/v1/jobs/create', scheduleJob(target.url, { delaySeconds: 600 }));
  const id = created.body.id;
  // Another process (a Lambda container) claims the job and is gone before it runs it.
  const lane = await DbLane.start(service.database.connectionString, service.config.worker, () => {});
  const claimed = await claimWithSafetyNet({ pool: service.pool, dbLane: lane, defaultTimeoutMs: 1000 }, id);
  await lane.stop(1000);
  t.equal(claimed!.status, 'running');
  t.equal(claimed!.attempts, 1);
  const again = await service.post('/internal/v1/process-scheduled-message', deliveredInput(id), auth);
  t.same(again.body, { jobId: id, ran: false, status: 'running' }, 'a redelivery does not run it a second time');

  const { rows: [net] } = await service.pool.query('SELECT state, start_after, data FROM pgboss.job WHERE id = $1', [id]);
  t.equal(net.state, 'retry', 'it enters the lane as a retry, holding its group like any job that already used an attempt');
  t.same(net.data, { attemptOffset: 1 }, 'when the lane runs it, the lost attempt counts');
  const claimedAt = claimed!.started_at!.getTime();
  const waitsFor = (net.start_after.getTime() - claimedAt) / 1000;
  t.ok(waitsFor >= 40 && waitsFor < 42, `it waits out the attempt (1 s timeout + 10 s + 30 s): ${waitsFor} s`);
  t.equal(target.requests.length, 0, 'nothing ran the job yet');

  // The service's lost-attempt sweep (every 5 s) counts the callback lost once its attempt is 1 s
  // timeout + 15 s old, and brings the net forward; its workers then run it. The net's own time
  // (41 s) is the bound it must beat; waiting a little past it lets a late net fail the check below
  // rather than time out.
  const row = await service.waitForStatus(id, ['completed', 'failed', 'dead_lettered'], net.start_after.getTime() - Date.now() + 5_000);
  t.equal(row.status, 'completed', 'the net ran the job in the callback\'s place');
  t.equal(row.attempts, 2);
  t.match(row.last_response, { status: 200, body: 'ran by the net' });
  t.equal(target.requests.length, 1, 'the job ran once');
  t.equal(target.requests[0]!.headers['switchyard-attempt'], '2', 'as attempt 2: the lost callback attempt counts');
  const ranAfter = (target.requests[0]!.receivedAt - claimedAt) / 1000;
  t.ok(ranAfter >= 16, `not before the callback's attempt could have ended (1 s timeout + 15 s): ${ranAfter} s`);
  t.ok(target.requests[0]!.receivedAt < net.start_after.getTime(), `the sweep brought it forward: ${ranAfter} s, not the net's ${waitsFor} s`);
  const attempts = await service.get(`/v1/jobs/${id}/attempts`);
  t.match(attempts.body.attempts, [
    { attempt: 1, lane: 'scheduler', outcome: 'lost', error: 'the worker running attempt 1 stopped before recording an outcome' },
    { attempt: 2, lane: 'db', outcome: 'completed', httpStatus: 200 },
  ]);
  t.equal(attempts.body.attempts.length, 2);
});
