// Attempts whose worker is gone: the lost-attempt sweep gives them back to run now, the cron entry
// point counts what it recovered, and a job whose LAST attempt was lost is dead-lettered by the
// spare delivery pg-boss keeps for it, without running again.
//
// The lost worker is a DB lane of the test's own: it claims the attempt exactly as a worker does
// (one claimAttempts), sends it to the target, and then stops without recording anything, so
// pg-boss takes its claim back unsettled, as it does (after the claim's expiry) for a worker whose
// process died. The service itself runs no workers here: only what a test calls runs.
import t from 'tap';
import { ExecutorRegistry } from '../src/executors/registry.ts';
import { createRestApiExecutor } from '../src/executors/rest-api.ts';
import { claimAttempts } from '../src/jobs/attempt-repository.ts';
import { DbLane } from '../src/lanes/db-lane.ts';
import { INTERNAL_TOKEN, restJob, startTestService } from './helpers/service.ts';
import { loopbackDispatcher, startTarget } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

type Tap = Pick<typeof t, 'equal' | 'match' | 'teardown'>;

const service = await startTestService(t, { env: { RUN_WORKERS: 'false' } });
const auth = { authorization: `Bearer ${INTERNAL_TOKEN}` };
// Every job here loses its first attempt: that one never gets an answer (its worker is gone
// first); every later one gets 200.
const target = await startTarget((request) => (request.headers['switchyard-attempt'] === '1' ? { status: 200, delayMs: 120_000 } : { status: 200, body: 'ran' }));
t.teardown(() => target.close());
const attemptsSeen = (jobId: string) => target.requests.filter((r) => r.headers['switchyard-job-id'] === jobId).map((r) => r.headers['switchyard-attempt']);
const laneJob = async (id: string) => (await service.pool.query('SELECT state, retry_count, start_after FROM pgboss.job WHERE id = $1', [id])).rows[0];
const history = async (id: string) => (await service.pool.query(
  'SELECT attempt, lane, outcome, error FROM job_attempts WHERE job_id = $1 ORDER BY attempt, finished_at', [id],
)).rows;

async function createJob(t: Tap, retry: Record<string, number>): Promise<string> {
  const created = await service.post('/v1/jobs/create', restJob(target.url, { retry }));
  t.equal(created.status, 202);
  return created.body.id;
}

/** Claims the job's next attempt in a lane of its own, sends it, and is lost before recording anything. */
async function loseWorkerOf(t: Tap, jobId: string): Promise<void> {
  const lane = await DbLane.start(service.database.connectionString, service.config.worker, () => {});
  // Should the test fail before the lane's stop below; a second stop does nothing.
  t.teardown(() => lane.stop(1000));
  const executors = new ExecutorRegistry([createRestApiExecutor({ defaultTimeoutMs: 60_000, dispatcher: loopbackDispatcher() })]);
  await lane.work(async (jobs) => {
    const { runnable } = await claimAttempts(service.pool, 'db', jobs.map(({ id, attempt }) => ({ id, attempt })));
    await Promise.all(runnable.map(async (row) => {
      const job = jobs.find((delivered) => delivered.id === row.id)!;
      // Returns when pg-boss, stopping, aborts the attempt; its outcome is never recorded.
      await executors.execute({
        jobId: row.id, appId: row.app_id, attempt: job.attempt, idempotencyKey: undefined,
        lambdaProxyMessage: row.lambda_proxy_message, execution: row.execution_config, signal: job.signal,
      });
    }));
  });
  await waitFor(() => attemptsSeen(jobId).length === 1, { what: 'the lost worker to send its attempt' });
  const running = await service.job(jobId);
  t.match(running, { status: 'running', attempts: 1 }, 'the lost worker claimed the attempt');
  t.equal(await service.jobs.recoverLostAttempts(), 0, 'an attempt whose worker still holds its claim is not recovered');
  await lane.stop(1000);
  t.match(await laneJob(jobId), { state: 'retry', retry_count: 0 }, 'pg-boss took the unsettled claim back');
  t.equal((await service.job(jobId))!.status, 'running', 'nobody recorded an outcome');
}

t.test('the spare delivery: a job whose last attempt was lost is dead-lettered without running again', async (t) => {
  const id = await createJob(t, { maxAttempts: 1, baseDelaySeconds: 1, maxDelaySeconds: 1 });
  await loseWorkerOf(t, id);

  // A service whose own workers now get the lane's spare delivery of the job.
  const worker = await startTestService(t, { database: service.database });
  const row = await worker.waitForStatus(id, ['dead_lettered', 'completed', 'failed']);
  t.equal(row.status, 'dead_lettered');
  t.equal(row.last_error, 'the worker running attempt 1 of 1 was lost');
  t.equal(row.attempts, 1, 'no attempt past the last one is counted');
  t.equal(row.next_retry_at, null);
  t.ok(row.completed_at instanceof Date);
  t.same(attemptsSeen(id), ['1'], 'the target saw the last attempt exactly once, and nothing after it');
  t.same(await history(id), [{ attempt: 1, lane: 'db', outcome: 'lost', error: 'the worker running attempt 1 stopped before recording an outcome' }]);
  t.equal((await laneJob(id)).state, 'completed', 'the spare delivery is finished in the lane: it holds nothing');
  t.ok(worker.logs.some((line) => line === `job ${id}: the worker running attempt 1 of 1 was lost; dead-lettered`), 'the dead-lettering is logged');
});

t.test("the sweep: a lost attempt is 'retrying' at once with its loss recorded, and then runs", async (t) => {
  // A backoff of an hour: without the sweep the attempt would wait it out.
  const id = await createJob(t, { maxAttempts: 3, baseDelaySeconds: 3600, maxDelaySeconds: 3600 });
  await loseWorkerOf(t, id);
  t.ok((await laneJob(id)).start_after.getTime() > Date.now() + 3_000_000, 'pg-boss alone would retry it after the backoff');

  const before = Date.now();
  t.equal(await service.jobs.recoverLostAttempts(), 1, 'the sweep finds the one lost attempt');
  const after = Date.now();
  const row = (await service.job(id))!;
  t.equal(row.status, 'retrying');
  t.equal(row.attempts, 1);
  t.equal(row.last_error, 'the worker running attempt 1 stopped before recording an outcome');
  const due = row.next_retry_at!.getTime();
  t.ok(due >= before && due <= after, `next_retry_at is the moment of the sweep (${due - before} ms into it)`);
  t.ok((await laneJob(id)).start_after.getTime() <= after, 'and the lane job is due now, not after the backoff');
  t.same(await history(id), [{ attempt: 1, lane: 'db', outcome: 'lost', error: 'the worker running attempt 1 stopped before recording an outcome' }]);
  t.equal(await service.jobs.recoverLostAttempts(), 0, 'a recovered attempt is not recovered twice');

  const run = await service.post('/internal/v1/run-db-jobs', { limit: 10 }, auth);
  t.match(run.body, { claimed: 1, completed: 1, recovered: 0 });
  t.match(await service.job(id), { status: 'completed', attempts: 2, last_error: null, next_retry_at: null });
  t.same(attemptsSeen(id), ['1', '2']);
});

t.test('run-db-jobs answers recovered: 1 for a lost attempt it brought back, and runs it in the same call', async (t) => {
  const id = await createJob(t, { maxAttempts: 3, baseDelaySeconds: 3600, maxDelaySeconds: 3600 });
  await loseWorkerOf(t, id);
  const run = await service.post('/internal/v1/run-db-jobs', { limit: 10 }, auth);
  t.equal(run.status, 200);
  t.match(run.body, { recovered: 1, claimed: 1, completed: 1 });
  t.match(await service.job(id), { status: 'completed', attempts: 2 });
  t.same(attemptsSeen(id), ['1', '2']);
  const again = await service.post('/internal/v1/run-db-jobs', { limit: 10 }, auth);
  t.match(again.body, { recovered: 0, claimed: 0 });
});
