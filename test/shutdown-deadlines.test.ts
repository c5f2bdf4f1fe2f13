// Deadlines and the stop (issue 13, item 4): a target that never answers holds a worker slot only
// until its attempt's deadline, not until pg-boss would take the claim back; and SIGTERM during a
// burst claims nothing from the moment it arrives and exits within SHUTDOWN_TIMEOUT_MS plus a second.
import t from 'tap';
import { QUEUES } from '../src/lanes/db-lane.ts';
import { startChaosTarget } from './helpers/chaos-target.ts';
import { chaosSetup, checkEnd, countFinished, createJob, createJobs, restJobTo, type PlannedJob } from './helpers/chaos.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

t.test('a hung target holds the only worker slot until the attempt deadline, then the next job runs', async (t) => {
  const hung = await startTarget(() => ({ status: 200, delayMs: 600_000 }));
  const quick = await startTarget(() => ({ status: 200 }));
  t.teardown(async () => {
    await hung.close();
    await quick.close();
  });
  const service = await startTestService(t, { env: { WORKER_CONCURRENCY: '1', WORKER_BATCH_SIZE: '1' } });
  const deadlineMs = 500;
  const first = await service.post('/v1/jobs/create', restJob(hung.url, { execution: { timeoutMs: deadlineMs }, retry: { baseDelaySeconds: 600 } }));
  await waitFor(() => hung.requests.length === 1, { what: 'the first job to reach the hung target' });
  await service.post('/v1/jobs/create', restJob(quick.url));
  await waitFor(() => quick.requests.length === 1, { timeoutMs: 30_000, what: 'the second job to run' });
  const row = await service.waitForStatus(first.body.id, 'retrying');
  // From the first attempt's start (its claim sets started_at, before the deadline's timer starts),
  // not from the hung target's receipt of the request: on a loaded machine the request may reach
  // the target most of the deadline later, and the second job then runs soon after that receipt.
  const waitedMs = quick.requests[0]!.receivedAt - row.started_at!.getTime();
  // pg-boss would take the first claim back only at its expiry, ceil(0.5 s) + 10 s. The slot must
  // come free at the deadline: 0.5 s, plus the settle and the worker's next fetch (its polling
  // interval is 0.5 s); 3 s more for a loaded machine is still far below the expiry.
  t.ok(waitedMs >= deadlineMs, `the second job waited for the deadline (${waitedMs} ms after the first attempt began)`);
  t.ok(waitedMs < deadlineMs + 3_500, `and ran ${waitedMs} ms after the first began, not at the claim's expiry (11 s)`);
  t.match(row.last_error, `timed out after ${deadlineMs} ms`);
  const { rows: [attempt] } = await service.pool.query(`SELECT outcome, duration_ms FROM job_attempts WHERE job_id = $1`, [first.body.id]);
  t.equal(attempt.outcome, 'retrying', 'the attempt was recorded as it ended, at the deadline');
  t.ok(attempt.duration_ms >= deadlineMs && attempt.duration_ms < deadlineMs + 1_000, `it lasted ${attempt.duration_ms} ms`);
  t.comment(`hung target, one worker slot: deadline ${deadlineMs} ms, the next job ran ${waitedMs} ms after the first began (claim expiry 11 s)`);
});

t.test('SIGTERM during a burst: nothing claimed after the signal, exit within SHUTDOWN_TIMEOUT_MS + 1 s, nothing lost', async (t) => {
  const shutdownTimeoutMs = 2_000;
  const { sql, fleet } = await chaosSetup(t, { env: { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs), WORKER_BATCH_SIZE: '5', WORKER_CONCURRENCY: '2' } });
  let slow = true;
  const target = await startChaosTarget(() => ({ status: 200, delayMs: slow ? 5_000 : 0 }));
  t.teardown(() => target.close());
  const service = await fleet.start();
  const jobs: PlannedJob[] = await createJobs(service.url, Array.from({ length: 100 }, () => restJobTo(target.url, '/slow', { timeoutMs: 10_000 })));
  // Both worker loops full (2 × 5), the rest waiting.
  await waitFor(() => target.inFlight() === 10, { what: 'every worker slot to be busy' });
  service.child.process.kill('SIGTERM');
  const exit = await service.child.exited;
  const exitedAt = Date.now();
  t.equal(exit.code, 0, 'exit 0');

  // The instant the service handled the signal, from its own log line (pino's time, in ms).
  const signalLine = service.child.output().split('\n').find((line) => line.includes('SIGTERM received'))!;
  const signalledAt = JSON.parse(signalLine).time as number;
  const stopMs = exitedAt - signalledAt;
  // The bound: the drain's SHUTDOWN_TIMEOUT_MS, then abandoned attempts record themselves
  // (ABANDON_RECORD_MS, 1 s at most) and the pool, pg-boss and the process end. 500 ms more for the
  // exit to reach this process on a loaded machine.
  t.ok(stopMs <= shutdownTimeoutMs + 1_000 + 500, `stopped ${stopMs} ms after the signal (bound ${shutdownTimeoutMs} ms + 1 s)`);

  // pg-boss stamps started_on when it hands a job to a worker. A ms of rounding: pino's time is whole ms.
  const { rows: claimedAfter } = await sql.query(
    `SELECT id, started_on FROM pgboss.job WHERE name = ANY($1) AND started_on >= to_timestamp($2 / 1000.0) + interval '1 millisecond'`,
    [QUEUES, signalledAt],
  );
  t.same(claimedAfter, [], 'no job was claimed after the signal');
  const startedAfter = target.deliveries.filter((d) => d.receivedAt > signalledAt);
  t.equal(startedAfter.length, 0, 'no target request started after the signal');
  const { rows: abandoned } = await sql.query(
    `SELECT job_id FROM job_attempts WHERE outcome = 'abandoned' AND job_id = ANY($1::uuid[])`, [jobs.map((job) => job.id)],
  );
  t.equal(abandoned.length, 10, 'the ten attempts still running at the bound were abandoned and recorded');
  const { rows: [counts] } = await sql.query(
    `SELECT count(*) FILTER (WHERE status = 'retrying')::int AS retrying, count(*) FILTER (WHERE status = 'pending')::int AS pending FROM jobs`,
  );
  t.same(counts, { retrying: 10, pending: 90 }, 'the abandoned ones wait to run again, the others were never claimed');

  slow = false;
  const restarted = await fleet.start();
  await waitFor(async () => (await countFinished(sql, jobs)) === jobs.length, { timeoutMs: 60_000, what: 'every job to complete after the restart' });
  jobs.push(await createJob(restarted.url, restJobTo(target.url, '/after')));
  await waitFor(async () => (await countFinished(sql, jobs)) === jobs.length, { what: 'a new job to complete' });
  const inFlightAtSignal = new Set(abandoned.map((row: { job_id: string }) => row.job_id));
  await checkEnd(t, { sql, target, fleet, jobs, mayRepeat: inFlightAtSignal });
  t.comment(`SIGTERM during a burst: SHUTDOWN_TIMEOUT_MS ${shutdownTimeoutMs}, exited ${stopMs} ms after the signal, ${claimedAfter.length} claimed after it, ${abandoned.length} abandoned`);
});
