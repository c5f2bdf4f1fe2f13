// The embedded scheduler: with no EventBridge Scheduler configured, a schedule job waits in the DB
// lane (pg-boss startAfter) and runs its target job at its time.
import t from 'tap';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';

const service = await startTestService(t);

t.test('a job scheduled 2 seconds ahead shows scheduled, then runs its target at its time', async (t) => {
  const target = await startTarget(() => ({ status: 200, body: 'ran' }));
  t.teardown(() => target.close());
  const body = restJob(target.url);
  const before = Date.now();
  const created = await service.post('/v1/jobs/create', {
    ...body,
    message: { ...body.message, execution: { type: 'schedule', delaySeconds: 2, targetExecution: body.message.execution } },
  });
  t.equal(created.status, 202);
  t.equal(created.body.status, 'scheduled');
  const waiting = await service.job(created.body.id);
  t.equal(waiting!.status, 'scheduled');
  t.equal(waiting!.schedule_arn, null, 'no remote schedule exists');
  // Its time is rounded up to the whole second (as EventBridge's at() has it): up to 1 s more, and
  // 1 s of slack for the create request itself.
  const runAt = waiting!.run_at!.getTime();
  t.ok(runAt >= before + 2_000 && runAt < before + 2_000 + 1_000 + 1_000, `its time is 2 s ahead, rounded up: ${runAt - before} ms`);

  const row = await service.waitForStatus(created.body.id, 'completed');
  t.equal(target.requests.length, 1);
  // Never early; a job that comes due is found within the workers' notify poll (1 s), and 2 s of
  // slack covers the claim and the request on a loaded machine.
  const late = target.requests[0]!.receivedAt - runAt;
  t.ok(late >= 0 && late < 1_000 + 2_000, `ran ${late} ms after its time`);
  t.match(row.last_response, { status: 200, body: 'ran' });
  t.equal(row.attempts, 1);
});

t.test('a batch refuses schedule jobs, which are armed one at a time', async (t) => {
  const body = restJob('http://127.0.0.1:9');
  const response = await service.post('/v1/jobs/batch', {
    jobs: [body, { ...body, message: { ...body.message, execution: { type: 'schedule', delaySeconds: 60, targetExecution: body.message.execution } } }],
  });
  t.equal(response.status, 400);
  t.equal(response.body.fields[0].field, 'jobs.1.message.execution.type');
  const { rows } = await service.pool.query('SELECT count(*)::int AS n FROM jobs');
  t.equal(rows[0].n, 1, 'only the job of the first test exists');
});
