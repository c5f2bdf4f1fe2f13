// Chaos: two service processes on one database. Together they drain a backlog with every job
// executed exactly once at the target and each group in order; then one of them is killed (kill -9)
// mid-run and the other finishes everything, repeating only what the dead one had in flight.
import t from 'tap';
import { startChaosTarget } from '../helpers/chaos-target.ts';
import { attemptsLoggedBy, chaosSetup, checkEnd, completedNow, countFinished, createJobs, report, restJobTo, sized, type PlannedJob } from '../helpers/chaos.ts';
import { waitFor } from '../helpers/wait.ts';

const JOBS = sized(600, 10_000);
const GROUPS = sized(10, 50);

// Small batches, so that neither process can claim the whole backlog in one fetch: the default (100
// jobs × 4 loops per queue) let one of them take all 600 jobs of the small size.
const { sql, fleet } = await chaosSetup(t, { env: { WORKER_BATCH_SIZE: '10', WORKER_CONCURRENCY: '2' } });
// 20 ms a call; while `holdMs` is raised, calls are held that long (kept under the jobs' 2 s timeout).
let holdMs = 20;
const target = await startChaosTarget(() => ({ status: 200, delayMs: holdMs }));
t.teardown(() => target.close());
const [one, two] = [await fleet.start(), await fleet.start()];

/** Half ungrouped, half in GROUPS groups, interleaved, created in that order. */
function backlog(): ReturnType<typeof restJobTo>[] {
  return Array.from({ length: JOBS }, (_, i) => i % 2 === 0
    ? restJobTo(target.url, '/plain', { timeoutMs: 2000 })
    : restJobTo(target.url, `/g/${i % GROUPS}`, { group: `group-${i % GROUPS}`, timeoutMs: 2000 }));
}

const allJobs: PlannedJob[] = [];

t.test('two processes drain one backlog: each job executed exactly once, groups in order', async (t) => {
  const startedAt = Date.now();
  const jobs = await createJobs(one.url, backlog());
  allJobs.push(...jobs);
  await waitFor(async () => (await countFinished(sql, jobs)) === jobs.length, { timeoutMs: 300_000, intervalMs: 500, what: 'the backlog to drain' });
  const seconds = (Date.now() - startedAt) / 1000;
  const [byOne, byTwo] = [attemptsLoggedBy(one.child), attemptsLoggedBy(two.child)];
  t.ok(byOne > 0 && byTwo > 0, `both processes executed jobs (${byOne} and ${byTwo})`);
  t.equal(byOne + byTwo, jobs.length, 'one attempt per job between them');
  await checkEnd(t, { sql, target, fleet, jobs: allJobs });
  report(t, 'two processes drain one backlog', { jobs: jobs.length, drainedS: seconds.toFixed(1), executedByEach: `${byOne}/${byTwo}`, reachedTargetTwice: 0 });
});

t.test('one of the two killed (kill -9) mid-run: the other finishes everything', async (t) => {
  const jobs = await createJobs(two.url, backlog());
  allJobs.push(...jobs);
  const ours = new Set(jobs.map((job) => job.id));
  // Mid-run: a quarter done, more in flight, the rest waiting.
  await waitFor(async () => (await countFinished(sql, jobs)) >= jobs.length / 4, { timeoutMs: 120_000, what: 'a quarter of the jobs to finish' });
  // The survivor is frozen for a moment and the target holds its calls: whatever reaches the target
  // now is the victim's, so it is killed with attempts of its own in flight (on a loaded machine a
  // 20 ms call otherwise often finished between the check and the kill).
  holdMs = 1_500;
  two.child.process.kill('SIGSTOP');
  const frozenAt = Date.now();
  await waitFor(() => target.deliveries.some((d) => ours.has(d.jobId) && d.receivedAt > frozenAt), { what: 'the victim to have an attempt in flight' });
  await fleet.kill9(one.child);
  const killedAt = Date.now();
  holdMs = 20;
  two.child.process.kill('SIGCONT');
  const deliveredBeforeKill = new Set(target.deliveries.filter((d) => ours.has(d.jobId)).map((d) => d.jobId));
  const completedAtKill = await completedNow(sql);
  const inFlightAtKill = new Set([...deliveredBeforeKill].filter((id) => !completedAtKill.has(id)));

  await waitFor(async () => (await countFinished(sql, jobs)) === jobs.length, { timeoutMs: 120_000, intervalMs: 500, what: 'the survivor to finish every job' });
  const seconds = (Date.now() - killedAt) / 1000;
  t.equal(fleet.alive().length, 1, 'only the survivor ran after the kill');
  const { rows: [{ lost }] } = await sql.query(`SELECT count(*)::int AS lost FROM job_attempts WHERE outcome = 'lost' AND job_id = ANY($1::uuid[])`, [jobs.map((job) => job.id)]);
  t.ok(lost > 0, `the killed process had ${lost} attempt(s) in flight, which the survivor ran again`);
  const end = await checkEnd(t, { sql, target, fleet, jobs: allJobs, mayRepeat: inFlightAtKill, straysExplained: completedAtKill });
  report(t, 'two processes, one killed mid-run', {
    jobs: jobs.length,
    deliveredBeforeKill: deliveredBeforeKill.size,
    inFlightAtKill: inFlightAtKill.size,
    lostAttemptsRecovered: lost,
    reachedTargetTwice: end.repeated,
    survivorFinishedAfterKillS: seconds.toFixed(1),
    reconcilerRepairs: end.repairs,
    invariantEmptyAfterMs: end.invariantWaitMs,
  });
});
