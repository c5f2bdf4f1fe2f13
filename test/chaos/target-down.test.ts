// Chaos: the target down (connection refused) for longer than several retries, then up again. Jobs
// retry on their backoff and complete; none is dead-lettered before its attempts are spent, and a
// job whose attempts run out while the target is down is dead-lettered after exactly its last.
import t from 'tap';
import { nominalDelaySeconds } from '../../src/jobs/retry-policy.ts';
import { startChaosTarget } from '../helpers/chaos-target.ts';
import { chaosSetup, checkEnd, countFinished, createJobs, report, restJobTo, sized } from '../helpers/chaos.ts';
import { waitFor } from '../helpers/wait.ts';

const PATIENT = sized(40, 400);
const SHORT_LIVED = sized(5, 50);
const RETRY = { maxAttempts: 10, baseDelaySeconds: 1, maxDelaySeconds: 2 };
const FAILED_WHILE_DOWN = 4;

const { sql, fleet } = await chaosSetup(t);
const target = await startChaosTarget(() => ({ status: 200 }));
t.teardown(() => target.close());

t.test('target refused for several retries, then up: every job completes on its backoff, none dead-lettered early', async (t) => {
  const service = await fleet.start();
  await target.down();
  const patient = await createJobs(service.url, Array.from({ length: PATIENT }, () => restJobTo(target.url, '/hook', { retry: RETRY })));
  const shortLived = await createJobs(service.url, Array.from({ length: SHORT_LIVED }, () => restJobTo(target.url, '/hook', { retry: { ...RETRY, maxAttempts: 3 } })));
  const downAt = Date.now();

  const failedAttempts = async (ids: string[]) => (await sql.query(
    `SELECT count(*)::int AS n FROM job_attempts WHERE job_id = ANY($1::uuid[]) AND outcome = 'retrying' GROUP BY job_id ORDER BY n LIMIT 1`, [ids],
  )).rows[0]?.n ?? 0;
  // The backoff (1 s doubling to 2 s, up to twice that with pg-boss's jitter) makes four failures
  // take about 10 s; the bound is there for a loaded machine.
  await waitFor(async () => (await failedAttempts(patient.map((job) => job.id))) >= FAILED_WHILE_DOWN, { timeoutMs: 90_000, intervalMs: 250, what: `every job to fail ${FAILED_WHILE_DOWN} times` });
  await waitFor(async () => (await countFinished(sql, shortLived)) === shortLived.length, { timeoutMs: 60_000, what: 'the 3-attempt jobs to spend their attempts' });
  t.equal(target.deliveries.length, 0, 'nothing reached the target while it was down');
  const { rows: early } = await sql.query(`SELECT id, attempts FROM jobs WHERE id = ANY($1::uuid[]) AND status <> 'retrying' AND status <> 'running'`, [patient.map((job) => job.id)]);
  t.same(early, [], 'no job with attempts left was dead-lettered while the target was down');
  await target.up();
  const upAt = Date.now();
  const jobs = [...patient, ...shortLived];
  await waitFor(async () => (await countFinished(sql, jobs)) === jobs.length, { timeoutMs: 60_000, what: 'every job to finish once the target is up' });
  const doneAfterUpS = (Date.now() - upAt) / 1000;

  const { rows: history } = await sql.query(
    `SELECT job_id, attempt, outcome, started_at, finished_at, error FROM job_attempts WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, id`,
    [jobs.map((job) => job.id)],
  );
  const byJob = new Map<string, typeof history>();
  for (const row of history) byJob.set(row.job_id, [...byJob.get(row.job_id) ?? [], row]);
  const notRefused = history.filter((row) => row.outcome !== 'completed' && !/ECONNREFUSED/.test(row.error ?? ''));
  t.same(notRefused.slice(0, 5), [], 'every failed attempt says the connection was refused');
  // pg-boss's next start is the failing transaction's now() plus at least the nominal delay, and the
  // next claim's now() is later still: both clocks are the database's.
  const earlyRetries = history.filter((row, index) => {
    const previous = history[index - 1];
    if (!previous || previous.job_id !== row.job_id) return false;
    return row.started_at.getTime() - previous.finished_at.getTime() < nominalDelaySeconds(RETRY, previous.attempt) * 1000;
  });
  t.same(earlyRetries.slice(0, 5), [], 'no retry started before its backoff');
  const spent = shortLived.filter((job) => byJob.get(job.id)?.map((row) => row.outcome).join() !== 'retrying,retrying,dead_lettered');
  t.same(spent, [], 'each 3-attempt job was dead-lettered after exactly three refused attempts');
  const attemptsUsed = patient.map((job) => byJob.get(job.id)!.length);

  await checkEnd(t, { sql, target, fleet, jobs, expected: (job) => (shortLived.includes(job) ? 'dead_lettered' : 'completed') });
  report(t, 'target down, then up', {
    jobs: jobs.length,
    targetDownS: ((upAt - downAt) / 1000).toFixed(1),
    attemptsPerJob: `${Math.min(...attemptsUsed)}-${Math.max(...attemptsUsed)}`,
    deadLetteredAfterAllAttempts: shortLived.length,
    allDoneAfterUpS: doneAfterUpS.toFixed(1),
  });
});
