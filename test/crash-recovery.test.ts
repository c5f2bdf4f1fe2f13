// Crashes and stops: a killed worker's job runs again, and a stop is graceful.
import t from 'tap';
import { childTestDatabase, createOn, startChild, waitForListening } from './helpers/child.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

const { database, env: childEnv, jobStatus } = await childTestDatabase(t);

t.test('a job whose worker was killed (kill -9) runs again within about a minute', async (t) => {
  let calls = 0;
  const target = await startTarget(() => (++calls === 1 ? { status: 200, delayMs: 120_000 } : { status: 200, body: 'second time' }));
  t.teardown(() => target.close());
  const child = startChild(childEnv());
  const url = await waitForListening(child);
  const created = await createOn(url, restJob(target.url, { execution: { timeoutMs: 2000 } }));
  await waitFor(() => target.requests.length === 1, { what: 'the first attempt to reach the target' });
  t.equal((await jobStatus(created.id)).status, 'running');
  child.process.kill('SIGKILL');
  await child.exited;
  const killedAt = Date.now();

  const restarted = await startTestService(t, { database });
  const row = await restarted.waitForStatus(created.id, 'completed', 60_000);
  const seconds = (Date.now() - killedAt) / 1000;
  t.ok(seconds < 60, `ran again ${seconds.toFixed(1)} s after the crash`);
  t.equal(row.attempts, 2);
  t.equal(target.requests.length, 2);
  t.equal(target.requests[1]!.headers['switchyard-attempt'], '2');
});

t.test('SIGTERM: no new claims, the running job finishes, exit 0', async (t) => {
  let finish!: () => void;
  const finishing = new Promise<void>((resolve) => { finish = resolve; });
  // The running job answers when the test says: the stop stays open for as long as the test needs.
  const target = await startTarget(async (request) => {
    if (request.url === '/running') await finishing;
    return { status: 200 };
  });
  t.teardown(() => target.close());
  // The child's API closes at the signal: jobs made during its stop come from another process.
  const writer = await startTestService(t, { database, env: { RUN_WORKERS: 'false' } });
  const child = startChild(childEnv({ SHUTDOWN_TIMEOUT_MS: '30000' }));
  const url = await waitForListening(child);
  const running = await createOn(url, restJob(target.url, {}, { path: '/running' }));
  await waitFor(() => target.requests.length === 1, { what: 'the job to start' });
  // Made before the signal, due while the child stops.
  const dueDuringStop = await writer.post('/v1/jobs/create', restJob(target.url, { delaySeconds: 3 }, { path: '/due-during-stop' }));
  child.process.kill('SIGTERM');
  await waitFor(() => /SIGTERM received/.test(child.output()), { what: 'the child to take the signal' });
  const dueAt = (await writer.job(dueDuringStop.body.id))!.run_at!.getTime();
  t.ok(Date.now() < dueAt, 'the delayed job comes due only after the signal was taken');
  // Made after the signal, ready at once, one for each queue of the lane: a worker still claiming
  // would have each within milliseconds (NOTIFY), or its 0.5 s poll.
  const madeAfter = [
    await writer.post('/v1/jobs/create', restJob(target.url, {}, { path: '/after-signal' })),
    await writer.post('/v1/jobs/create', restJob(target.url, { messageGroupId: 'stop-group' }, { path: '/after-signal-grouped' })),
  ].map((response) => response.body.id as string);
  // Nothing to wait for but time: the running job is held until the delayed job has been due for
  // 2 s, twice the 1 s within which a claiming worker finds a job that comes due.
  await new Promise((resolve) => setTimeout(resolve, dueAt + 2_000 - Date.now()));
  t.equal(child.process.exitCode, null, 'the child is still stopping: its running job holds it');
  finish();

  const exit = await child.exited;
  t.equal(exit.code, 0, 'exit 0');
  t.match(child.output(), /SIGTERM received/);
  t.equal((await jobStatus(running.id)).status, 'completed', 'the running job finished before the exit');
  t.same(target.requests.map((request) => request.url), ['/running'], 'the stopping process sent nothing new');
  for (const id of [dueDuringStop.body.id, ...madeAfter]) {
    t.match(await jobStatus(id), { status: 'pending', attempts: 0 }, `job ${id} was not claimed`);
  }
  // Nor were they lost: the next runner takes them.
  const { body: ran } = await writer.post('/internal/v1/run-db-jobs', { limit: 10 }, { authorization: `Bearer ${INTERNAL_TOKEN}` });
  t.match(ran, { claimed: 3, completed: 3 });
});

t.test('SIGTERM with a job that outlives the bound: it goes back to be retried, exit 0', async (t) => {
  // Never answered while the test runs: only the attempt's own timeout (DEFAULT_TIMEOUT_MS, 30 s) would end it.
  const target = await startTarget(() => ({ status: 200, delayMs: 120_000 }));
  t.teardown(() => target.close());
  const child = startChild(childEnv({ SHUTDOWN_TIMEOUT_MS: '1000' }));
  const url = await waitForListening(child);
  const created = await createOn(url, restJob(target.url));
  await waitFor(() => target.requests.length === 1, { what: 'the job to start' });
  const stopAt = Date.now();
  child.process.kill('SIGTERM');
  const exit = await child.exited;
  t.equal(exit.code, 0);
  // The stop promises SHUTDOWN_TIMEOUT_MS (1 s) to the job, then at most ABANDON_RECORD_MS (1 s,
  // src/service.ts) to record it abandoned, then pg-boss's stop, bounded by the same 1 s; closing
  // the pool and the connections takes milliseconds. 7 s of slack for a loaded machine: a stop that
  // waited for the job instead would take the attempt's 30 s timeout.
  const stopMs = Date.now() - stopAt;
  t.ok(stopMs < 1_000 + 1_000 + 1_000 + 7_000, `the stop kept to its bound: ${stopMs} ms`);
  const row = await jobStatus(created.id);
  t.equal(row.status, 'retrying', 'the abandoned attempt is recorded and will run again');
  t.match(row.last_error, /abandoned/);
});
