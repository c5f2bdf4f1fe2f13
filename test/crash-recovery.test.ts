// Crashes and stops: a killed worker's job runs again, and a stop is graceful.
import t from 'tap';
import { childTestDatabase, createOn, startChild, waitForListening } from './helpers/child.ts';
import { restJob, startTestService } from './helpers/service.ts';
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
  const target = await startTarget(() => ({ status: 200, delayMs: 1500 }));
  t.teardown(() => target.close());
  const child = startChild(childEnv({ SHUTDOWN_TIMEOUT_MS: '10000' }));
  const url = await waitForListening(child);
  const created = await createOn(url, restJob(target.url));
  await waitFor(() => target.requests.length === 1, { what: 'the job to start' });
  child.process.kill('SIGTERM');
  const exit = await child.exited;
  t.equal(exit.code, 0, 'exit 0');
  t.match(child.output(), /SIGTERM received/);
  t.equal((await jobStatus(created.id)).status, 'completed', 'the running job finished before the exit');
});

t.test('SIGTERM with a job that outlives the bound: it goes back to be retried, exit 0', async (t) => {
  const target = await startTarget(() => ({ status: 200, delayMs: 20_000 }));
  t.teardown(() => target.close());
  const child = startChild(childEnv({ SHUTDOWN_TIMEOUT_MS: '1000' }));
  const url = await waitForListening(child);
  const created = await createOn(url, restJob(target.url));
  await waitFor(() => target.requests.length === 1, { what: 'the job to start' });
  const stopAt = Date.now();
  child.process.kill('SIGTERM');
  const exit = await child.exited;
  t.equal(exit.code, 0);
  t.ok(Date.now() - stopAt < 8_000, 'the stop kept to its bound');
  const row = await jobStatus(created.id);
  t.equal(row.status, 'retrying', 'the abandoned attempt is recorded and will run again');
  t.match(row.last_error, /abandoned/);
});
