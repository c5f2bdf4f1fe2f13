// Attempt ownership: every write that claims, settles or moves an attempt names the attempt it is
// about, so a late writer changes nothing; a batch records each outcome as it comes back; the
// lost-attempt sweep and the reconciler move only what is really lost; an attempt the service
// abandons at a stop does not use up the job's last chance.
import t from 'tap';
import pg from 'pg';
import { inTransaction } from '../src/db/pool.ts';
import { claimAttempts, settleAttempts } from '../src/jobs/attempt-repository.ts';
import { findViolations, INVARIANT_SQL } from '../src/jobs/invariant.ts';
import { DbLane, type LaneJob } from '../src/lanes/db-lane.ts';
import { restJob, startTestService } from './helpers/service.ts';
import { startTarget, type TargetReply } from './helpers/target.ts';
import { waitFor } from './helpers/wait.ts';

// No workers of its own: the test claims with a lane of its own and hands batches to the service.
const service = await startTestService(t, { env: { RUN_WORKERS: 'false', RETRY_BASE_DELAY_SECONDS: '1', RETRY_MAX_DELAY_SECONDS: '1' } });
const lane = await DbLane.start(service.database.connectionString, service.config.worker, () => {});
t.teardown(() => lane.stop(1000));
let reply: (path: string, attempt: string) => TargetReply | Promise<TargetReply> = () => ({ status: 200 });
const target = await startTarget((request) => reply(request.url, String(request.headers['switchyard-attempt'])));
t.teardown(() => target.close());

const create = async (overrides: Record<string, unknown> = {}, path = '/hook') => {
  const created = await service.post('/v1/jobs/create', restJob(target.url, overrides, { path }));
  t.equal(created.status, 202);
  return created.body.id as string;
};
const fetchOne = async (id: string): Promise<LaneJob> => {
  const job = await waitFor(async () => (await lane.fetchDue(10)).find((fetched) => fetched.id === id), { what: `job ${id} to be claimable` });
  return job;
};
const history = async (id: string) => (await service.pool.query('SELECT attempt, lane, outcome, error FROM job_attempts WHERE job_id = $1 ORDER BY id', [id])).rows;
const violations = async () => (await service.pool.query(INVARIANT_SQL)).rows;
/** Takes a claimed lane job back as pg-boss does when its claim expires (fail, fenced on its attempt). */
const expire = (job: LaneJob) => inTransaction(service.pool, (client) => lane.settle(client, { completed: [], retry: [job] }));

t.test('a stale outcome never overwrites a newer attempt, and a stale claim takes nothing', async (t) => {
  const id = await create({ delaySeconds: 3600 });
  t.same((await claimAttempts(service.pool, 'db', [{ id, attempt: 1 }])).runnable.map((row) => row.id), [id]);
  // Attempt 1's claim lapsed; attempt 2 claims the job, runs and completes.
  t.same((await claimAttempts(service.pool, 'db', [{ id, attempt: 2 }])).runnable.map((row) => row.id), [id]);
  const done = await settleAttempts(service.pool, [{ id, attempt: 2, lane: 'db', status: 'completed', lastError: null, lastResponse: { status: 200, durationMs: 5 }, nextRetryAt: null }]);
  t.same([...done], [id]);
  const late = await settleAttempts(service.pool, [{ id, attempt: 1, lane: 'db', status: 'retrying', lastError: 'HTTP 503', lastResponse: { status: 503 }, nextRetryAt: new Date() }]);
  t.same([...late], [], 'attempt 1 arriving late matches nothing');
  t.match(await service.job(id), { status: 'completed', attempts: 2, last_error: null, last_response: { status: 200 } });
  t.same((await claimAttempts(service.pool, 'db', [{ id, attempt: 2 }])).runnable, [], 'a repeated claim of attempt 2 takes nothing');
  // The claims above came from no lane delivery: the job's own lane job is still waiting.
  await lane.discard(service.pool, { id, groupId: null });
  t.match(await history(id), [{ attempt: 1, lane: 'db', outcome: 'lost' }, { attempt: 2, outcome: 'completed' }], 'the claim of attempt 2 recorded attempt 1 as lost');
  // The same through a batch: a delivery of an attempt older than the row's is let go unrun.
  const other = await create();
  const stale = await fetchOne(other);
  await claimAttempts(service.pool, 'db', [{ id: other, attempt: 2 }]);
  const before = target.requests.length;
  t.match(await service.jobs.runLaneBatch([stale]), { claimed: 1, skipped: 1, completed: 0 });
  t.equal(target.requests.length, before, 'the stale delivery did not call the target');
  // Attempt 2 was claimed by hand, with no delivery of its own to finish it.
  await settleAttempts(service.pool, [{ id: other, attempt: 2, lane: 'db', status: 'completed', lastError: null, lastResponse: null, nextRetryAt: null }]);
  t.same(await violations(), []);
});

t.test('a batch records each outcome as it comes back, not when its slowest job ends', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  reply = (path) => (path === '/slow' ? held.then(() => ({ status: 200 })) : { status: 200 });
  t.teardown(() => { reply = () => ({ status: 200 }); });
  const fast = await create({}, '/fast');
  const slow = await create({}, '/slow');
  const batch = await waitFor(async () => {
    const fetched = await lane.fetchDue(10);
    return fetched.length ? fetched : undefined;
  }, { what: 'the batch' });
  const more = await lane.fetchDue(10);
  const jobs = [...batch, ...more];
  t.same(jobs.map((job) => job.id).sort(), [fast, slow].sort());
  const running = service.jobs.runLaneBatch(jobs);
  const fastRow = await service.waitForStatus(fast, 'completed', 5_000);
  t.equal((await service.job(slow))!.status, 'running', 'the fast job is recorded while the slow one still runs');
  release();
  t.match(await running, { claimed: 2, completed: 2 });
  const slowRow = await service.job(slow);
  t.ok(fastRow.completed_at! < slowRow!.completed_at!);
});

t.test('the sweep moves a lost attempt once, however many sweeps run, and never a newer attempt', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  reply = (_path, attempt) => (attempt === '2' ? held.then(() => ({ status: 200, body: 'second' })) : { status: 200 });
  t.teardown(() => { reply = () => ({ status: 200 }); });
  const id = await create();
  const first = await fetchOne(id);
  await claimAttempts(service.pool, 'db', [{ id, attempt: 1 }]);
  await expire(first);
  const moved = await Promise.all([1, 2, 3].map(() => service.jobs.recoverLostAttempts()));
  t.equal(moved.reduce((a, b) => a + b, 0), 1, 'three sweeps at once moved it once');
  const row = await service.job(id);
  t.match(row, { status: 'retrying', attempts: 1, last_error: 'the worker running attempt 1 stopped before recording an outcome' });
  t.ok(Math.abs(row!.next_retry_at!.getTime() - Date.now()) < 5_000, 'due now');
  t.match(await history(id), [{ attempt: 1, outcome: 'lost', error: 'the worker running attempt 1 stopped before recording an outcome' }]);
  t.equal((await history(id)).length, 1);

  // Attempt 2 runs; a sweep now must leave it alone.
  const second = await fetchOne(id);
  t.equal(second.attempt, 2);
  const running = service.jobs.runLaneBatch([second]);
  await waitFor(() => target.requests.some((request) => request.headers['switchyard-attempt'] === '2' && request.url === '/hook'), { what: 'attempt 2 to reach the target' });
  t.equal(await service.jobs.recoverLostAttempts(), 0);
  t.match(await service.job(id), { status: 'running', attempts: 2 });
  release();
  await running;
  t.match(await service.job(id), { status: 'completed', attempts: 2, last_response: { body: 'second' } });
  t.same(await violations(), []);
});

t.test('run-db-jobs recovers a lost attempt and says so', async (t) => {
  const id = await create();
  const first = await fetchOne(id);
  await claimAttempts(service.pool, 'db', [{ id, attempt: 1 }]);
  await expire(first);
  const response = await service.post('/internal/v1/run-db-jobs', { limit: 10 }, { authorization: `Bearer ${service.config.internalToken}` });
  t.equal(response.status, 200);
  t.match(response.body, { recovered: 1 });
  await waitFor(async () => {
    const again = await service.post('/internal/v1/run-db-jobs', { limit: 10 }, { authorization: `Bearer ${service.config.internalToken}` });
    return again.body.completed >= 1 || (await service.job(id))!.status === 'completed';
  }, { what: 'the recovered job to run' });
  t.match(await service.job(id), { status: 'completed', attempts: 2 });
});

t.test('the reconciler repairs what no lane will move, and only that', async (t) => {
  // An orphaned row, as the old sweep race left them: retrying, its lane job completed.
  const orphan = await create();
  const orphanJob = await fetchOne(orphan);
  await claimAttempts(service.pool, 'db', [{ id: orphan, attempt: 1 }]);
  await inTransaction(service.pool, (client) => lane.settle(client, { completed: [orphanJob], retry: [] }));
  await service.pool.query(`UPDATE jobs SET status = 'retrying', next_retry_at = now() - interval '5 minutes' WHERE id = $1`, [orphan]);
  // A running row at its last attempt with nothing behind it: its last attempt is lost.
  const exhausted = await create({ retry: { maxAttempts: 1 } });
  const exhaustedJob = await fetchOne(exhausted);
  await claimAttempts(service.pool, 'db', [{ id: exhausted, attempt: 1 }]);
  await lane.discard(service.pool, { id: exhaustedJob.id, groupId: null });
  // A stray lane job: waiting to retry for a job that has already completed.
  const stray = await create({ messageGroupId: 'stray-group' });
  const strayJob = await fetchOne(stray);
  await claimAttempts(service.pool, 'db', [{ id: stray, attempt: 1 }]);
  await expire(strayJob);
  await service.pool.query(`UPDATE jobs SET status = 'completed', completed_at = now() WHERE id = $1`, [stray]);

  const found = await inTransaction(service.pool, (client) => findViolations(client, 100));
  t.same(found.map((f) => [f.problem, f.id]).sort(), [['orphaned_row', orphan], ['orphaned_row', exhausted], ['stray_lane_job', stray]].sort());

  // Another process holds the reconciler's lock: this one does nothing.
  const holder = await service.pool.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT pg_advisory_xact_lock($1)', [0x5e1ec7ed]);
  t.match(await service.jobs.reconciler.run(), { ran: false });
  await holder.query('COMMIT');
  holder.release();

  t.match(await service.jobs.reconciler.run(), { ran: true, found: 3, repaired: 3 });
  t.same(await violations(), [], 'the invariant holds again');
  t.match(await service.job(exhausted), { status: 'dead_lettered', last_error: 'the worker running attempt 1 of 1 was lost' });
  t.equal((await service.pool.query('SELECT count(*)::int AS n FROM pgboss.job WHERE id = $1', [stray])).rows[0].n, 0, 'the stray lane job is gone');
  const resumed = await fetchOne(orphan);
  t.equal(resumed.attempt, 2, 'the orphan runs again at its next attempt');
  await service.jobs.runLaneBatch([resumed]);
  t.match(await service.job(orphan), { status: 'completed', attempts: 2 });
  t.equal((await service.jobs.reconciler.run()).found, 0);
  t.ok(service.logs.some((line) => line.startsWith(`reconciler: job ${orphan} orphaned row (retrying): given to the DB lane at attempt 2`)), 'each repair is logged with its job id');
});

t.test('an attempt abandoned at a stop is retried without using up the last chance', async (t) => {
  const own = await startTestService(t, { env: { SHUTDOWN_TIMEOUT_MS: '300', RETRY_BASE_DELAY_SECONDS: '60' } });
  let hang = true;
  const hanging = await startTarget(() => (hang ? { status: 200, delayMs: 30_000 } : { status: 200, body: 'after the deploy' }));
  t.teardown(() => hanging.close());
  const created = await own.post('/v1/jobs/create', restJob(hanging.url, { retry: { maxAttempts: 1 } }));
  await waitFor(() => hanging.requests.length === 1, { what: 'the only attempt to start' });
  const stopping = Date.now();
  await own.stop();
  t.ok(Date.now() - stopping < 300 + 2_000, `the stop kept to its bound (${Date.now() - stopping} ms)`);
  // The service's own pool is closed now; read its database from outside.
  const sql = new pg.Pool({ connectionString: own.database.connectionString, max: 1 });
  const { rows: [abandoned] } = await sql.query(
    `SELECT j.status, j.attempts, j.abandoned_attempts, j.last_error, b.state, b.start_after, b.retry_limit,
            (SELECT array_agg(outcome ORDER BY id) FROM job_attempts WHERE job_id = j.id) AS outcomes
       FROM jobs j JOIN pgboss.job b ON b.id = j.id WHERE j.id = $1`,
    [created.body.id],
  );
  await sql.end();
  t.match(abandoned, { status: 'retrying', attempts: 1, abandoned_attempts: 1, state: 'retry', outcomes: ['abandoned'] }, 'not dead-lettered: the service gave the attempt up');
  t.match(abandoned.last_error, /abandoned/);
  t.ok(abandoned.start_after.getTime() - Date.now() < 5_000, 'it runs again at once, not after a 60 s backoff');
  t.equal(abandoned.retry_limit, 2, 'the lane allows the delivery it gave back');

  hang = false;
  const after = await startTestService(t, { database: own.database });
  const done = await after.waitForStatus(created.body.id, 'completed');
  t.equal(done.attempts, 2);
  t.same(hanging.requests.map((request) => request.headers['switchyard-attempt']), ['1', '2']);
  // Before the teardown of the first service, which stops the database both share.
  await after.stop();
});

t.test("docs/sql.md prints the reconciler's own invariant query", async (t) => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../docs/sql.md', import.meta.url), 'utf8');
  t.ok(doc.includes('```sql\n' + INVARIANT_SQL + '\n```'), 'the query in docs/sql.md is INVARIANT_SQL, word for word');
});

t.test('abandoned attempts are free only up to max_attempts of them, so a job that never fits its time ends', async (t) => {
  const id = await create({ retry: { maxAttempts: 1 }, delaySeconds: 3600 });
  await lane.discard(service.pool, { id, groupId: null });
  const abandon = (attempt: number) => settleAttempts(service.pool, [{ id, attempt, lane: 'db', status: 'retrying', abandoned: true, lastError: 'attempt abandoned', lastResponse: null, nextRetryAt: new Date() }]);
  t.equal((await claimAttempts(service.pool, 'db', [{ id, attempt: 1 }])).runnable.length, 1);
  await abandon(1);
  t.equal((await claimAttempts(service.pool, 'db', [{ id, attempt: 2 }])).runnable.length, 1, 'the abandoned attempt did not count: attempt 2 runs');
  await abandon(2);
  const third = await claimAttempts(service.pool, 'db', [{ id, attempt: 3 }]);
  t.same(third.runnable, []);
  t.same(third.exhausted.map((row) => row.id), [id], 'a second abandonment counts: attempt 3 is past what the job may have');
  t.match(await service.job(id), { status: 'dead_lettered', abandoned_attempts: 2 });
});
